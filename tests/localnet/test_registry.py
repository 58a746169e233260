"""One registry idiom: a duplicate name raises instead of replacing an entry."""

from __future__ import annotations

import pytest

from wmnet.localnet.calls import HANDLERS, handler
from wmnet.localnet.registry import DuplicateRegistration, Registry
from wmnet.localnet.runtime_api import RUNTIME, runtime
from wmnet.localnet.storage import MAP_READERS, READERS, reader
from wmnet.localnet.substrate import CONSTANTS


def test_a_registry_refuses_a_duplicate_name():
    table: Registry[str, int] = Registry("thing")
    table.add("a", 1)
    with pytest.raises(DuplicateRegistration, match="thing 'a'"):
        table.add("a", 2)
    assert table["a"] == 1 and "a" in table and len(table) == 1


def test_handlers_readers_runtime_apis_and_constants_share_it():
    for table in (HANDLERS, READERS, MAP_READERS, RUNTIME, CONSTANTS):
        assert isinstance(table, Registry) and len(table) > 0
    with pytest.raises(DuplicateRegistration):
        handler("Balances", "transfer_keep_alive")(lambda ctx, dest, value: None)
    with pytest.raises(DuplicateRegistration):
        reader("System", "Account")(lambda state, params: None)
    with pytest.raises(DuplicateRegistration):
        runtime("SubnetInfoRuntimeApi", "get_metagraph")(lambda state, params: None)


def test_a_handler_needs_a_parameter_schema():
    with pytest.raises(LookupError, match="no call"):
        handler("SubtensorModule", "no_such_call")(lambda ctx: None)
    assert ("SubtensorModule", "no_such_call") not in HANDLERS
