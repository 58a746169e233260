"""Ledger fixtures: a fresh database per test on SQLite and, when ``WMNET_TEST_PG_URL``
is set, on PostgreSQL (a database created for the test and dropped after it); and an
in-process chain with a subnet that has a validator and miners, through the real SDK."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import bittensor as bt
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tests.localnet.conftest import make_subnet, register_raw, wallet
from wmnet.ledger.db import make_engine, migrate
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.substrate import LocalnetSubstrate

PG_ENV = "WMNET_TEST_PG_URL"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/postgres)")
    name = f"wmnet_ledger_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - any failure to reach the server
        admin.dispose()
        pytest.skip(f"PostgreSQL at {PG_ENV} is unreachable: {error}")
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def open_sessions(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    factory = open_sessions(db_url)
    yield factory
    factory.kw["bind"].dispose()


@pytest.fixture
def chain() -> Iterator[Chain]:
    chain = Chain()
    yield chain
    chain.close()


@pytest.fixture
async def client(chain: Chain) -> AsyncIterator[bt.Client]:
    async with bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain))) as c:
        yield c


@dataclass
class Subnet:
    netuid: int
    tempo: int
    owner_hotkey: str
    validator_hotkey: str
    validator_uid: int
    miner_uids: list[int]
    miner_hotkeys: list[str]


async def subnet_with_miners(client: bt.Client, chain: Chain, n_miners: int = 3) -> Subnet:
    """A subnet with one staked validator (permit granted) and ``n_miners`` miners."""
    made = await make_subnet(client, chain)
    validator = wallet("//Bob", "validator")
    miners = [wallet("//Charlie", f"miner{i}") for i in range(n_miners)]
    for w in [validator, *miners]:
        result = await register_raw(client, made.netuid, w)
        assert result.success, result.message
    result = await client.execute(
        bt.AddStake(netuid=made.netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=1000),
        validator,
    )
    assert result.success, result.message
    graph = await client.subnets.metagraph(made.netuid)
    chain.advance(graph.tempo + 1)  # an epoch grants the validator its permit
    graph = await client.subnets.metagraph(made.netuid)
    hotkeys = [m.hotkey.ss58_address for m in miners]
    return Subnet(
        netuid=made.netuid,
        tempo=graph.tempo,
        owner_hotkey=graph.owner_hotkey,
        validator_hotkey=validator.hotkey.ss58_address,
        validator_uid=graph.by_hotkey(validator.hotkey.ss58_address).uid,
        miner_uids=[graph.by_hotkey(h).uid for h in hotkeys],
        miner_hotkeys=hotkeys,
    )


async def set_weights(client: bt.Client, subnet: Subnet, weights: list[float]) -> None:
    result = await client.execute(
        bt.SetWeights(netuid=subnet.netuid, uids=subnet.miner_uids, weights=weights),
        wallet("//Bob", "validator"),
    )
    assert result.success, result.message
