"""The chain's events as subtensor's ``System.Events``: ``Vec<EventRecord>`` by the metadata.

Every event the chain emits carries subtensor's pallet, name and fields
(``ctx.emit``), so a record maps one to one onto the metadata's ``RuntimeEvent``.
The chain also records a few events of its own that no subtensor runtime
declares (:data:`PRIVATE_EVENTS`); they stay in the chain's own history
(``/v1/block``) and are left out of the SCALE records, as a node has nothing to
encode them with. ``tests/localnet/test_metadata.py`` fails on any other event
the metadata cannot encode.
"""

from __future__ import annotations

from typing import Any

from wmnet.localnet.scale import ChainCodec

# (pallet, event) the chain records that are not subtensor's, and why.
PRIVATE_EVENTS: dict[tuple[str, str], str] = {
    ("SubtensorModule", "EpochRun"): "which epochs ran (subtensor records none)",
    ("SubtensorModule", "EpochSkipped"): "an epoch the chain skipped after a fault",
    ("SubtensorModule", "NeuronDeregistered"): "the neuron a registration replaced",
    ("AdminUtils", "HyperparameterSet"): "which storage item a setter changed",
}


def event_records(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chain's event dicts (the decoded shape) in the encoder's shape."""
    records = []
    for record in events:
        event = record["event"]
        name = (event["module_id"], event["event_id"])
        if name in PRIVATE_EVENTS:
            continue
        attributes = event["attributes"]
        records.append(
            {
                "phase": record["phase"],
                "event": {name[0]: {name[1]: _shape(attributes)}},
                "topics": list(record.get("topics") or []),
            }
        )
    return records


def _shape(value: Any) -> Any:
    """DispatchError::Other carries no payload on the wire."""
    if isinstance(value, dict):
        if set(value) == {"Other"}:
            return "Other"
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def encode_events(chain: ChainCodec, events: list[dict[str, Any]]) -> bytes:
    entry = chain.codec.storage_entry("System", "Events")
    return chain.codec.encode(entry.value_type, event_records(events))
