"""Child processes that never outlive the command that started them.

`wmnet demo` runs a chain, miners and a validator, each as its own process. Whatever
way the demo ends (normal exit, an error, Ctrl-C, SIGTERM, even SIGKILL), none of them
may be left behind holding a port:

* each child starts in its own session (``start_new_session``), so a Ctrl-C typed at the
  terminal reaches the demo alone, and the demo stops its children in order;
* on the way out every child's process group gets SIGTERM, then SIGKILL after a grace
  period, so grandchildren (a server's workers) go too;
* on Linux each child also asks the kernel for SIGKILL when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), which covers the one exit no Python code sees. That
  signal reaches direct children only, so wmnet's own children start no grandchildren.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

import httpx

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Child:
    """One started process: its name, the Popen handle and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 20) -> str:
        """The last lines the child wrote, to say why it failed."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Starts named children and stops all of them on exit, whatever the exit.

    Use as a context manager; SIGTERM to this process is turned into the same clean
    stop as Ctrl-C while the group is open.
    """

    log_dir: Path
    grace_s: float = 5.0
    children: list[Child] = field(default_factory=list)
    _old_sigterm: object = None

    def __enter__(self) -> ProcessGroup:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._old_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
        signal.signal(signal.SIGTERM, self._old_sigterm)  # type: ignore[arg-type]

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        """Starts ``argv`` as child ``name``, its stdout and stderr in ``<log_dir>/<name>.log``.

        Call it from a thread that lives as long as the child should: the kernel's
        parent-death signal fires when the starting *thread* exits.
        """
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads exist yet here
            )
        child = Child(name, popen, log_path)
        self.children.append(child)
        return child

    def dead(self) -> list[Child]:
        """Children that have exited."""
        return [c for c in self.children if c.popen.poll() is not None]

    def stop(self, child: Child) -> None:
        """SIGTERM to the child's process group; SIGKILL if it is still there after grace."""
        _signal_group(child.popen, signal.SIGTERM)
        try:
            child.popen.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(child.popen, signal.SIGKILL)
            child.popen.wait()
        _signal_group(child.popen, signal.SIGKILL)  # stragglers in its group

    def stop_all(self) -> None:
        """Stops every child, the last started first (clients before the chain they use)."""
        for child in reversed(self.children):
            self.stop(child)


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def wait_http_ok(url: str, child: Child, timeout_s: float = 60.0) -> None:
    """Waits until ``GET url`` answers 2xx; raises with the child's log if it dies or stalls."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.popen.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited with code {child.popen.returncode}:\n{child.tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).is_success:
                return
        time.sleep(0.2)
    raise RuntimeError(
        f"{child.name} did not answer {url} within {timeout_s:.0f} s:\n{child.tail()}"
    )
