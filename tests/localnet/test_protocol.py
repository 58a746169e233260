"""LocalnetSubstrate implements every member of the SDK's Substrate protocol
with the SDK's own signatures, so an SDK upgrade that changes one fails here."""

from __future__ import annotations

import inspect

from bittensor._substrate import Substrate

from wmnet.localnet.substrate import LocalnetSubstrate


def _protocol_members() -> dict[str, object]:
    members = {}
    for name, value in vars(Substrate).items():
        if name.startswith("_") or not callable(value):
            continue
        members[name] = value
    return members


def _shape(fn: object) -> list[tuple[str, object, bool, object]]:
    params = list(inspect.signature(fn).parameters.values())
    return [
        (p.name, p.kind, p.default is inspect.Parameter.empty, _default(p.default)) for p in params
    ]


def _default(value: object) -> object:
    return None if value is inspect.Parameter.empty else value


def test_every_protocol_method_is_implemented_with_its_signature():
    members = _protocol_members()
    assert len(members) >= 31  # the SDK documents 31 methods
    mismatched = {}
    for name, expected in members.items():
        actual = getattr(LocalnetSubstrate, name, None)
        assert actual is not None, f"LocalnetSubstrate lacks {name}"
        if _shape(actual) != _shape(expected):
            mismatched[name] = (str(inspect.signature(actual)), str(inspect.signature(expected)))
    assert not mismatched, mismatched


def test_sync_and_async_members_match():
    for name, expected in _protocol_members().items():
        actual = getattr(LocalnetSubstrate, name)
        if inspect.iscoroutinefunction(expected):
            assert inspect.iscoroutinefunction(actual), f"{name} must be async"
        elif name == "blocks":  # the protocol returns an AsyncIterator
            assert inspect.isasyncgenfunction(actual) or not inspect.iscoroutinefunction(actual)
        else:
            assert not inspect.iscoroutinefunction(actual), f"{name} must not be async"


def test_token_symbols_attribute():
    assert "token_symbols" in Substrate.__annotations__
    assert LocalnetSubstrate.__init__ is not None
    substrate = LocalnetSubstrate(backend=None)  # type: ignore[arg-type]
    assert substrate.token_symbols == {}
