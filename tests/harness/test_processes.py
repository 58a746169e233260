"""ProcessGroup leaves no process behind, however the process that owns it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.harness.procs import alive, terminal_sigint

# The driver starts two children; the second starts a grandchild of its own (as a server
# with workers would). It prints every pid, then waits to be stopped.
DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from wmnet.harness.processes import ProcessGroup

    with ProcessGroup(Path(sys.argv[1]), grace_s=2.0) as group:
        sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
        parent = [sys.executable, "-c", (
            "import subprocess, sys, time;"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']);"
            "print(p.pid, flush=True); time.sleep(120)"
        )]
        a = group.start("a", sleeper)
        b = group.start("b", parent)
        log = Path(sys.argv[1]) / "b.log"
        while not log.read_text().strip():
            time.sleep(0.05)
        print(a.popen.pid, b.popen.pid, log.read_text().strip(), flush=True)
        time.sleep(120)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_no_child_survives_the_owner(tmp_path: Path, sig: signal.Signals) -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=terminal_sigint,
    )
    try:
        pids = [int(p) for p in driver.stdout.readline().split()]
        assert len(pids) == 3 and all(alive(p) for p in pids)
        os.kill(driver.pid, sig)
        driver.wait(timeout=20)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids[:2]) and time.monotonic() < deadline:
            time.sleep(0.1)
        # SIGKILL runs no code in the owner: only the kernel's parent-death signal acts,
        # and it reaches direct children only (the grandchild is the child's to stop).
        watched = pids[:2] if sig == signal.SIGKILL else pids
        left = [p for p in watched if alive(p)]
        assert not left, f"left behind after {sig.name}: {left}"
    finally:
        driver.kill()
        for pid in pids if "pids" in locals() else []:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
