"""Every resource bound: request body, pool and shielded deposits, accounts,
advance; and a unique genesis per chain."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.localnet.helpers import sign, transfer
from wmnet.localnet import pool as pool_module
from wmnet.localnet.chain import MAX_ADVANCE_BLOCKS, Chain
from wmnet.localnet.keys import dev_keypair
from wmnet.localnet.limits import MAX_BODY_BYTES
from wmnet.localnet.server import create_app


def started_subnet(chain: Chain) -> int:
    """A started subnet owned by //Alice, through signed extrinsics only."""
    owner = dev_keypair("//Alice//owner").ss58_address
    receipt = chain.submit(
        sign(chain, "//Alice", "SubtensorModule", "register_network", {"hotkey": owner})
    )
    assert receipt.success, receipt
    netuid = max(chain.state.subnets)
    chain.advance(10)
    start = sign(chain, "//Alice", "SubtensorModule", "start_call", {"netuid": netuid})
    assert chain.submit(start).success
    return netuid


@pytest.fixture
def http():
    chain = Chain()
    with TestClient(create_app(chain)) as client:
        yield client, chain
    chain.close()


def test_body_limit_is_413_with_or_without_content_length(http):
    client, chain = http
    big = b"[" + b"0," * MAX_BODY_BYTES + b"0]"
    response = client.post("/v1/query", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["detail"]

    def chunks():
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    streamed = client.post("/v1/submit", content=chunks())
    assert streamed.status_code == 413
    assert client.get("/v1/info").status_code == 200


def test_reads_and_refused_submissions_create_no_account(http):
    client, chain = http
    accounts = len(chain.state.accounts)
    stranger = dev_keypair("//Stranger").ss58_address
    assert client.get(f"/v1/nonce/{stranger}").json() == {"nonce": 0}
    assert client.get("/v1/nonce/not-an-address").status_code == 400
    body = {"module": "System", "item": "Account", "params": [stranger]}
    assert client.post("/v1/query", json=body).json()["value"]["data"]["free"] == 0
    # A junk signer: a valid signature from a key the chain has never seen.
    junk = sign(
        chain, "//Stranger", "Balances", "transfer_keep_alive", {"dest": stranger, "value": 1}
    )
    receipt = client.post("/v1/submit", json={"extrinsic": junk.to_json()}).json()
    assert receipt["included"] is False and "fees" in receipt["error_message"]
    # A fee-free call from it: refused too (only a registered hotkey may).
    weights = sign(
        chain,
        "//Stranger",
        "SubtensorModule",
        "set_weights",
        {"netuid": 1, "dests": [0], "weights": [1], "version_key": 0},
    )
    receipt = client.post("/v1/submit", json={"extrinsic": weights.to_json()}).json()
    assert receipt["included"] is False and "Payment" in receipt["error_message"]
    # A transfer that fails (below the existential deposit) creates no receiver.
    dust = sign(
        chain, "//Alice", "Balances", "transfer_allow_death", {"dest": stranger, "value": 1}
    )
    assert chain.submit(dust).error_name == "ExistentialDeposit"
    assert len(chain.state.accounts) == accounts
    assert chain.state.find_account(stranger) is None


def test_pool_bound_per_signer(monkeypatch):
    chain = Chain(realtime=True)  # no clock started: submissions stay pending
    for _ in range(pool_module.MAX_PENDING_PER_SIGNER):
        assert chain.submit(transfer(chain), wait=False).error_message == "pending"
    refused = chain.submit(transfer(chain), wait=False)
    assert not refused.included and "ExhaustsResources" in refused.error_message
    # Bob is not held back by Alice's backlog.
    assert chain.submit(transfer(chain, uri="//Bob", to="//Alice"), wait=False).success
    chain.close()


def test_shielded_deposits_are_bounded_and_dropped_when_stale():
    chain = Chain()
    alice = dev_keypair("//Alice").ss58_address
    bob = dev_keypair("//Bob").ss58_address
    params = {"dest": bob, "value": 10**9}
    # An unfunded signer cannot deposit.
    with pytest.raises(Exception, match="Payment"):
        chain.announce_shielded(
            sign(chain, "//Stranger", "Balances", "transfer_keep_alive", params, nonce=1)
        )
    # A nonce far ahead of the signer's next one is refused.
    far = pool_module.SHIELDED_NONCE_WINDOW + 5
    with pytest.raises(Exception, match="Future"):
        chain.announce_shielded(
            sign(chain, "//Alice", "Balances", "transfer_keep_alive", params, nonce=far)
        )
    # At most MAX_SHIELDED_PER_SIGNER per signer.
    for nonce in range(1, pool_module.MAX_SHIELDED_PER_SIGNER + 1):
        chain.announce_shielded(
            sign(chain, "//Alice", "Balances", "transfer_keep_alive", params, nonce=nonce)
        )
    with pytest.raises(Exception, match="ExhaustsResources"):
        chain.announce_shielded(
            sign(chain, "//Alice", "Balances", "transfer_keep_alive", params, nonce=9)
        )
    # Once the signer's nonces move past them, the deposits are dropped.
    for _ in range(pool_module.MAX_SHIELDED_PER_SIGNER + 1):
        assert chain.submit(transfer(chain)).success
    assert not [k for k in chain._pool.shielded if k[0] == alice]
    chain.close()


def test_advance_is_bounded_and_manual_only(http):
    client, chain = http
    assert client.post("/v1/advance", json={"blocks": MAX_ADVANCE_BLOCKS + 1}).status_code == 422
    assert client.post("/v1/advance", json={"blocks": True}).status_code == 422
    assert client.post("/v1/advance", json={"blocks": 3}).json() == {"head": 3}
    with pytest.raises(ValueError, match="between"):
        chain.advance(MAX_ADVANCE_BLOCKS + 1)
    realtime = Chain(realtime=True)
    with pytest.raises(ValueError, match="real-time"):
        realtime.advance(1)
    realtime.close()


def test_each_chain_has_its_own_genesis(tmp_path):
    one, two = Chain(tmp_path / "one.db"), Chain(tmp_path / "two.db")
    assert one.state.genesis_hash != two.state.genesis_hash
    assert one.block_hash(0) != two.block_hash(0)
    # A transaction signed for one chain is refused by the other.
    xt = transfer(one)
    refused = two.submit(xt)
    assert not refused.included and "another chain" in refused.error_message
    assert one.submit(xt).success
    genesis = one.state.genesis_hash
    one.close()
    reopened = Chain(tmp_path / "one.db")
    assert reopened.state.genesis_hash == genesis  # kept in the state file
    reopened.close()
    two.close()
