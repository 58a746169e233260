"""The runtime metadata wmnet's chain serves: subtensor's, recorded, plus what it lacks.

``subtensor_spec343.hex`` is a subtensor runtime's own V15 metadata (spec 343),
recorded by the bittensor SDK's maintainers (README.md beside this file says
where from). It predates the runtime SDK v11 was generated from, so
:func:`metadata_v15` adds what the chain implements and that runtime lacks,
each addition taken from subtensor's sources (``extend.py`` names them): the
MevShield pallet, six per-subnet storage items, four runtime API methods, two
AdminUtils calls, the error enums of the runtime SDK v11 targets and the
chain's own constants (block time, version). The result is
what ``state_call("Metadata_metadata_at_version", 15)`` returns and what every
SCALE value on the wire is encoded by.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from wmnet.localnet.metadata import v15

SPEC_NAME = "node-subtensor"
IMPL_NAME = "wmnet-localnet"
# The recorded runtime's own spec version (its System.Version constant says 343).
# Bump IMPL_VERSION with every change to what extend.py adds; clients cache a
# runtime's metadata by (genesis, spec version), and each wmnet chain has its own
# genesis. tests/localnet/test_metadata.py pins the built metadata's digest.
SPEC_VERSION = 343
TRANSACTION_VERSION = 1
IMPL_VERSION = 1
BASE_FILE = "subtensor_spec343.hex"
DEFAULT_SLOT_MS = 250


def recorded() -> bytes:
    """The recorded runtime's ``MetadataVersioned`` bytes, as upstream published them."""
    text = resources.files(__package__).joinpath(BASE_FILE).read_text().strip()
    return v15.strip_opaque(bytes.fromhex(text.removeprefix("0x")))


@lru_cache(maxsize=4)
def metadata_v15(slot_ms: int = DEFAULT_SLOT_MS) -> bytes:
    """The served metadata: the recorded runtime with the chain's additions.

    ``slot_ms`` is the chain's block time (``Aura.SlotDuration``), which the SDK
    reads to pace its waits; a real fast-blocks localnet runtime carries 250.
    """
    from wmnet.localnet.metadata.extend import RuntimeIdentity, extend
    from wmnet.localnet.params import EXISTENTIAL_DEPOSIT_RAO, START_CALL_DELAY

    identity = RuntimeIdentity(
        spec_name=SPEC_NAME,
        impl_name=IMPL_NAME,
        spec_version=SPEC_VERSION,
        impl_version=IMPL_VERSION,
        slot_ms=slot_ms,
        existential_deposit=EXISTENTIAL_DEPOSIT_RAO,
        start_call_delay=START_CALL_DELAY,
    )
    document = v15.decode(recorded())
    extend(document, identity)
    return v15.encode(document)


@lru_cache(maxsize=4)
def metadata_v14(slot_ms: int = DEFAULT_SLOT_MS) -> bytes:
    """The same runtime as V14, for ``state_getMetadata`` (clients that predate V15)."""
    from wmnet.localnet.metadata.registry import MetadataEditor

    document = v15.decode(metadata_v15(slot_ms))
    editor = MetadataEditor(document)
    extrinsic = editor.by_path("fp_self_contained", "unchecked_extrinsic", "UncheckedExtrinsic")
    return v15.encode_v14(document, extrinsic)
