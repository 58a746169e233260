"""Common mistakes at the command line, made as a user makes them (subprocesses): each
gives one line on stderr saying what to do, exit status 2, no traceback, and never
creates a wallet.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wmnet.harness.setup import free_port

WMNET = [sys.executable, "-m", "wmnet.neurons.cli"]
TYPO = ["--network", "finnney"]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(home)  # wallets, validator state: all under the test's folder
    env["BTCLI_TOKEN_SYMBOLS_CACHE"] = str(home / "symbols.json")
    env["BTCLI_CONFIG"] = str(home / "config.yml")
    # Nothing answers here: a command that got as far as the chain would fail otherwise.
    env["WMNET_LOCALNET_URL"] = f"http://127.0.0.1:{free_port()}"
    env.pop("WMNET_DB_URL", None)
    return env


def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*WMNET, *args], env=_env(home), capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def assert_no_wallet(home: Path) -> None:
    wallets = home / ".bittensor" / "wallets"
    assert not wallets.exists() or not any(wallets.iterdir()), sorted(wallets.rglob("*"))


# Every command that takes --network, with its other required options.
NETWORK_COMMANDS = [
    ["subnet", "create", "--wallet", "mywallet"],
    ["subnet", "start", "--netuid", "1", "--wallet", "mywallet"],
    ["subnet", "register", "--netuid", "1", "--wallet", "mywallet"],
    ["subnet", "stake", "--netuid", "1", "--wallet", "mywallet", "--amount", "1"],
    ["subnet", "set", "--netuid", "1", "--wallet", "w", "--name", "tempo", "--value", "5"],
    ["subnet", "show", "--netuid", "1"],
    ["localnet", "status"],
    ["miner", "run", "--wallet", "mywallet", "--netuid", "1"],
    ["validator", "run", "--wallet", "mywallet", "--netuid", "1"],
    ["ledger", "ingest", "chain", "--netuid", "1"],
]


@pytest.mark.slow
@pytest.mark.parametrize("command", NETWORK_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_network_is_one_line(command, tmp_path):
    proc = _run(tmp_path, *command, *TYPO)
    assert_one_line_error(proc, "--network", "finnney", "did you mean 'finney'")
    assert_no_wallet(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("amount", ["-5", "0", "nan"])
def test_a_stake_amount_must_be_positive(amount, tmp_path):
    proc = _run(
        tmp_path, "subnet", "stake", "--netuid", "1", "--wallet", "//Bob", "--amount", amount
    )
    assert_one_line_error(proc, "--amount", "positive")


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["subnet", "register", "--netuid", "1", "--wallet", "mywalet"],
        ["subnet", "create", "--wallet", "mywalet", "--network", "test"],
        ["subnet", "stake", "--netuid", "1", "--wallet", "mywalet", "--amount", "5"],
        ["miner", "run", "--wallet", "mywalet", "--netuid", "1"],
        ["validator", "run", "--wallet", "mywalet", "--netuid", "1"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_an_unknown_wallet_is_one_line_and_creates_nothing(command, tmp_path):
    proc = _run(tmp_path, *command)
    assert_one_line_error(proc, "mywalet", "btcli wallet create")
    assert_no_wallet(tmp_path)


@pytest.mark.slow
def test_a_wallet_without_the_hotkey_says_how_to_make_one(tmp_path):
    import bittensor as bt

    path = tmp_path / "wallets"
    bt.Wallet("mine", "default", path=str(path)).create_new_coldkey(
        use_password=False, suppress=True
    )
    before = sorted(p.relative_to(path) for p in path.rglob("*"))
    proc = _run(tmp_path, "subnet", "register", "--netuid", "1", "--wallet", "mine",
                "--hotkey", "typo", "--wallet-path", str(path))  # fmt: skip
    assert_one_line_error(proc, "no hotkey 'typo'", "btcli wallet new-hotkey")
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == before


@pytest.mark.slow
def test_dev_keys_are_refused_on_a_public_network(tmp_path):
    proc = _run(tmp_path, "subnet", "register", "--netuid", "1", "--wallet", "//Bob",
                "--network", "finney")  # fmt: skip
    assert_one_line_error(proc, "//Bob", "local chain")


@pytest.mark.slow
def test_a_busy_gateway_port_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _run(tmp_path, "validator", "run", "--wallet", "//Bob", "--hotkey", "v",
                    "--netuid", "1", "--db", f"sqlite:///{tmp_path / 'l.db'}",
                    "--gateway-port", str(port))  # fmt: skip
    assert_one_line_error(proc, f"port {port}", "--gateway-port")


@pytest.mark.slow
def test_a_second_localnet_on_the_same_state_or_port_is_one_line(tmp_path):
    port = free_port()
    state = tmp_path / "chain.db"
    first = subprocess.Popen(
        [*WMNET, "localnet", "up", "--port", str(port), "--state", str(state)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert first.poll() is None, first.stdout.read()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        same_state = _run(tmp_path, "localnet", "up", "--port", str(free_port()),
                          "--state", str(state))  # fmt: skip
        assert_one_line_error(same_state, str(state), "in use", "--state")
        same_port = _run(tmp_path, "localnet", "up", "--port", str(port),
                         "--state", str(tmp_path / "other.db"))  # fmt: skip
        assert_one_line_error(same_port, f"port {port}", "--port")
        assert first.poll() is None, "the first chain must keep running"
    finally:
        first.terminate()
        first.wait(timeout=30)


@pytest.mark.slow
def test_version_and_a_missing_option(tmp_path):
    version = _run(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.startswith("wmnet "), version
    missing = _run(tmp_path, "subnet", "show")
    assert_one_line_error(missing, "--netuid", "wmnet subnet show --help")


@pytest.mark.slow
def test_a_root_only_setting_is_refused_on_a_public_network(tmp_path):
    proc = _run(tmp_path, "subnet", "set", "--netuid", "1", "--wallet", "mywallet",
                "--name", "weights_rate_limit", "--value", "0", "--network", "test")  # fmt: skip
    assert_one_line_error(proc, "weights_rate_limit", "root-only")
    assert_no_wallet(tmp_path)


@pytest.mark.slow
def test_a_state_file_that_is_not_one_is_one_line(tmp_path):
    state = tmp_path / "state.json"
    state.write_text('{"netuid": 5}')
    proc = _run(tmp_path, "validator", "run", "--wallet", "//Bob", "--hotkey", "v",
                "--netuid", "1", "--state", str(state))  # fmt: skip
    assert_one_line_error(proc, str(state), "--state")
    assert state.read_text() == '{"netuid": 5}'


def test_a_shard_task_past_the_protocol_bounds_is_one_line(tmp_path):
    # The validator's tasks and the bench's are InnerHyper models: a value past its bound
    # is refused by the option itself, not by a pydantic error after start-up.
    proc = _run(tmp_path, "validator", "run", "--wallet", "//Bob", "--hotkey", "v",
                "--netuid", "1", "--store", str(tmp_path / "store"),
                "--inner-steps", "20000")  # fmt: skip
    assert_one_line_error(proc, "--inner-steps", "10000")
    proc = _run(tmp_path, "bench", "gauntlet", "--rounds", "1", "--batch", "5000")
    assert_one_line_error(proc, "--batch", "1024")
    assert not (tmp_path / "store").exists()
