"""``wmnet localnet up`` driven by the SDK's own WebSocket transport, as any subnet's code would.

The client (tests/localnet/rpc_sdk_client.py) runs in its own interpreter and
imports no wmnet module: ``bt.Client("ws://127.0.0.1:PORT")``, the SDK's codec
and intents, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localnet.rpc_node import ServedNode, served_node

CLIENT = Path(__file__).with_name("rpc_sdk_client.py")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    with served_node(tmp_path_factory.mktemp("rpc-sdk")) as served:
        yield served


def test_a_subnets_life_through_bt_client_over_ws(node: ServedNode) -> None:
    seen = node.run_client(CLIENT, node.ws_url)
    assert seen["modules"] == [], "the client loaded wmnet modules"
    # Events decoded by the served metadata: RegisterSubnet found its NetworkAdded.
    assert "SubtensorModule.NetworkAdded" in seen["register_events"]
    assert seen["netuid"] >= 1
    assert seen["shielded"] is True  # BurnedRegister went through MevShield and was opened
    # subtensor's error names for refused calls, top level and inside Sudo.sudo.
    assert seen["refused"] == {"success": False, "name": "FirstEmissionBlockNumberAlreadySet"}
    assert seen["not_sudo"] == {"success": False, "name": "RequireSudo"}
    assert seen["permit"] is True
    graph = seen["metagraph"]
    assert graph["n"] == 4 and graph["tempo"] == 10
    assert graph["axons"] == ["127.0.0.1:8091", "127.0.0.1:8091"]
    # One validator weighing 0.7 / 0.3: Yuma gives the miners that incentive.
    assert graph["incentive"] == pytest.approx([0.7, 0.3], abs=1e-4)
    assert graph["dividends"] == pytest.approx(1.0, abs=1e-4)
    assert graph["emission"][0] > graph["emission"][1] > 0
    assert len(seen["neurons"]) == 4
    assert seen["hyperparameters"] == {
        "tempo": 10,
        "commit_reveal_weights_enabled": False,
        "weights_rate_limit": 0,
    }
    # 1,000 TAO staked, 100 alpha unstaked (1 alpha = 1 TAO here), read at that block;
    # later epochs paid the validator more.
    assert seen["past_block"] == seen["stake_block"]
    assert seen["past_validator_stake"] == 900 * 10**9
    assert graph["validator_stake"] > seen["past_validator_stake"]
    assert seen["balance_alice"] < 10**15  # the subnet's lock and fees were paid
    assert len(seen["weights_row"]) == 2
    assert node.alive()
