"""Process helpers for the tests that stop a process tree and look for survivors."""

from __future__ import annotations

import signal
from pathlib import Path


def terminal_sigint() -> None:
    """Ctrl-C as a terminal delivers it, whatever the test runner inherited (``preexec_fn``).

    A shell starts background jobs with SIGINT ignored, and Python keeps an inherited
    SIG_IGN (nohup semantics), so under ``cmd &`` the child would never see the signal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie holds nothing; nobody may reap it inside a container
