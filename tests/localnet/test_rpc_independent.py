"""A client that shares no code with wmnet or the bittensor SDK's transport reads the
served chain and submits to it: async-substrate-interface (its own WebSocket client,
scalecodec types over the served V15 metadata, its own extrinsic signing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localnet.rpc_node import ServedNode, served_node

CLIENT = Path(__file__).with_name("rpc_asi_client.py")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    pytest.importorskip("async_substrate_interface", reason="the dev extra installs it")
    with served_node(tmp_path_factory.mktemp("asi")) as served:
        yield served


def test_async_substrate_interface_reads_and_transfers(node: ServedNode) -> None:
    seen = node.run_client(CLIENT, node.ws_url)
    assert seen["spec_version"] == 343
    assert {"SubtensorModule", "MevShield", "Balances", "System"} <= set(seen["pallets"])
    assert seen["chain"]["result"] == "wmnet local subtensor"
    assert seen["block_number"] >= 0
    assert seen["block_calls"][0] == "Timestamp.set"
    assert seen["success"] is True
    assert "Balances.Transfer" in seen["events"]
    assert seen["bob_after"] == seen["bob_before"] + 1_234_567
