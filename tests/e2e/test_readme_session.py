"""The README's "A local subnet by hand", run as written.

The commands are read from README.md's code blocks in that section, not copied here,
so the test fails when the README drifts from what works. Each runs as a subprocess
through the installed ``wmnet`` script, the way a user types it: the long-running ones
(`localnet up`, `validator run`, `miner run`) in the background, as their own
terminals, the others to completion (exit status 0). Only the environment differs
from a user's: a private HOME (wallets, validator state), and free ports through the
variables the commands read (``WMNET_LOCALNET_URL``, ``WMNET_MINER_PORT``), so the test
can run beside other chains and miners.

It ends when the miner's incentive is above 0, which must happen within a few tempos
of the miner's first answer, with at most one weights warning per tempo in the
validator's log.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bittensor_core import Keypair

from wmnet.harness.processes import ProcessGroup
from wmnet.harness.setup import free_port

REPO = Path(__file__).resolve().parents[2]
SECTION = "### A local subnet by hand"
LONG_RUNNING = (("localnet", "up"), ("validator", "run"), ("miner", "run"))
TEMPOS_TO_INCENTIVE = 8  # after the miner first answers (its weights need a round first)


def readme_blocks() -> list[tuple[str, list[str]]]:
    """(terminal, commands) for each code block of the README's session section."""
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start)
    section = text[start : end if end > 0 else None]
    blocks = []
    for body in re.findall(r"^```[a-z]*\n(.*?)^```", section, flags=re.S | re.M):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        terminal = lines[0].lstrip("# ") if lines and lines[0].startswith("#") else "?"
        blocks.append((terminal, [line for line in lines if not line.startswith("#")]))
    return blocks


def _argv(command: str) -> list[str]:
    argv = shlex.split(command, comments=True)
    assert argv and argv[0] == "wmnet", f"the session runs wmnet commands only: {command!r}"
    return argv


def _is_long_running(argv: list[str]) -> bool:
    return tuple(argv[1:3]) in LONG_RUNNING


def test_the_readme_names_a_whole_session():
    commands = [_argv(c) for _, cmds in readme_blocks() for c in cmds]
    for needed in [*LONG_RUNNING, ("subnet", "create"), ("subnet", "show")]:
        assert any(tuple(a[1:3]) == needed for a in commands), f"no `wmnet {' '.join(needed)}`"


@pytest.mark.slow
def test_the_readme_session_pays_the_miner(tmp_path):
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "wmnet").exists(), "the wmnet script is not installed next to python"
    home = tmp_path / "home"
    home.mkdir()
    chain_url = f"ws://127.0.0.1:{free_port()}"  # its JSON-RPC; its private API is port + 2
    miner_port = free_port()
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "WMNET_LOCALNET_URL": chain_url,
        "WMNET_MINER_PORT": str(miner_port),
        "BTCLI_TOKEN_SYMBOLS_CACHE": str(tmp_path / "symbols.json"),
        "BTCLI_CONFIG": str(tmp_path / "config.yml"),
    }
    for name in ("WMNET_DB_URL", "WMNET_STORE", "WMNET_REDIS_URL"):
        env.pop(name, None)

    def run(argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)

    started: dict[str, object] = {}
    with ProcessGroup(tmp_path / "logs") as group:
        for terminal, commands in readme_blocks():
            for command in commands:
                argv = _argv(command)
                if _is_long_running(argv):
                    name = argv[1]
                    started[name] = child = group.start(name, argv, env)
                    if name == "localnet":
                        _wait_for_chain(run, child)
                    continue
                if tuple(argv[1:3]) == ("subnet", "show"):
                    continue  # read below, once the miner serves
                done = run(argv)
                assert done.returncode == 0, f"[{terminal}] {command}\n{done.stderr}"
                assert "Traceback" not in done.stderr, done.stderr
        miner, validator = started["miner"], started["validator"]
        _wait_for_http(f"http://127.0.0.1:{miner_port}/healthz", miner, group)

        show = next(_argv(c) for _, cmds in readme_blocks() for c in cmds if "show" in c)
        hotkey = Keypair.create_from_uri("//Charlie//miner").ss58_address
        first = _subnet(run, show)
        tempo, start_block = first["tempo"], first["block"]
        deadline_block = start_block + TEMPOS_TO_INCENTIVE * (tempo + 1)
        wall_deadline = time.monotonic() + 300
        while True:
            for child in started.values():
                assert child.popen.poll() is None, f"{child.name} exited:\n{child.tail()}"
            data = _subnet(run, show)
            incentive = {n["hotkey"]: n["incentive"] for n in data["neurons"]}.get(hotkey, 0)
            if incentive > 0:
                break
            assert data["block"] <= deadline_block and time.monotonic() < wall_deadline, (
                f"the miner's incentive is still 0 at block {data['block']} "
                f"({(data['block'] - start_block) / (tempo + 1):.1f} tempos after it served)"
                f"\nvalidator:\n{validator.tail(30)}"
            )
            time.sleep(1.0)
        table = run(show)  # the README's own command, as written, prints the table
        assert table.returncode == 0 and hotkey[:6] in table.stdout, table.stdout
        end_block = data["block"]
        tempos = (end_block - start_block) / (tempo + 1)
        print(f"miner incentive {incentive:.4f}, {tempos:.1f} tempos after it first served")

    log = validator.log_path.read_text()
    assert "Traceback" not in log, log
    assert "weights set at block" in log, log
    _assert_one_weights_warning_per_tempo(log, tempo, end_block - start_block)
    for child in started.values():
        assert "Traceback" not in child.log_path.read_text(), child.tail(40)


def _wait_for_chain(run, child) -> None:  # noqa: ANN001 - the test's closure and a Child
    """Until `wmnet localnet status` answers (whatever transport the chain speaks)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert child.popen.poll() is None, f"the chain exited:\n{child.tail()}"
        if run(["wmnet", "localnet", "status", "--json"], timeout=60).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"the chain never answered:\n{child.tail()}")


def _wait_for_http(url: str, child, group: ProcessGroup, timeout_s: float = 180) -> None:  # noqa: ANN001
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for other in group.children:
            assert other.popen.poll() is None, f"{other.name} exited:\n{other.tail()}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{child.name} never answered {url}:\n{child.tail()}")


def _subnet(run, show: list[str]) -> dict:  # noqa: ANN001
    done = run([*show, "--json"], timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _assert_one_weights_warning_per_tempo(log: str, tempo: int, blocks: int) -> None:
    warnings = [
        line for line in log.splitlines() if " WARNING " in line and "weight" in line.lower()
    ]
    assert len(warnings) <= 1 + blocks // max(1, tempo), "\n".join(warnings)
    at = [int(m.group(1)) for w in warnings if (m := re.search(r"at block (\d+)", w))]
    for earlier, later in zip(at, at[1:], strict=False):
        assert later - earlier >= tempo, f"two weights warnings within a tempo:\n{warnings}"
