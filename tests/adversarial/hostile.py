"""A hostile miner: a raw asyncio HTTP server that answers a validator the way a
registered miner who wants to hurt validators would (issue 20's attacks), one mode at a
time. Test code only.

It speaks just enough HTTP/1.1 to control every byte (encodings, lengths, timing) and
ignores authentication (it is the validator's reads that are under test). The mode is
read from a file on every request, so a test switches it without a restart; what was
served is counted per mode, endpoint and caller in a JSON status file the test polls.

Modes (every endpoint answers per mode; ``-`` = a quick 503):

==================  =========================  ===================  ======================
mode                ``GET /v1/capacity``       ``POST /v1/rollout`` ``POST /v1/shard``
==================  =========================  ===================  ======================
``frames``          a valid report             honest latents,      a lazy sealed update
                    (fp32 and bf16)            random frames
``gzip-stacked``    ``gzip, gzip`` bomb        the same             the same
``gzip-single``     ``gzip`` bomb              the same             the same
``oversized``       a body past any cap, with or without a declared length (alternating)
``drip``            headers, then one byte every 0.5 s, for ten minutes
``capacity``        out-of-range / infinite    -                    -
                    values, one per request
``timings``         a valid report             random latents, huge compute_ms; then
                                               infinite ones     infinite compute_ms
``fifo``            a valid report             -                    names a FIFO it planted
``symlink``         a valid report             -                    names a symlink it
                                                                    planted (to the honest
                                                                    update, to /dev/zero)
``overwrite``       a valid report             -                    overwrites the others'
                                                                    new updates in place,
                                                                    then answers late
``copy-id``         a valid report             -                    answers another miner's
                                                                    object id at once
``copy-resign``     a valid report             -                    re-seals another's
                                                                    payload as its own
``refuse``          503 everywhere (between phases)
==================  =========================  ===================  ======================
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import gzip
import itertools
import json
import os
import secrets
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="?")
BOMB_BYTES = 256 * 1024 * 1024  # what a bomb inflates to: far past any cap
DRIP_S = 0.5
CAPACITY_VARIANTS = (
    {"slots": 2**31},  # past PostgreSQL's int32
    {"slots": 2**63},  # past SQLite's int64
    {"workloads": ["rollout"] * 80},  # past String(200) once joined
    {"time": "Infinity"},
    {"window_s": "1e400"},
    {"busy_fraction": "NaN"},
    {"queue_limit": -1},
)


def _bombs() -> tuple[bytes, bytes]:
    """(single, stacked) gzip bombs of ``BOMB_BYTES`` zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    single = b"".join(packer.compress(zeros) for _ in range(BOMB_BYTES >> 20)) + packer.flush()
    return single, gzip.compress(single, 9)


class Hostile:
    def __init__(
        self,
        mode_file: Path,
        status_file: Path,
        hotkey: str,
        store: Path | None = None,
        signer: Any = None,
    ) -> None:
        self.mode_file, self.status_file = mode_file, status_file
        self.hotkey, self.store, self.signer = hotkey, store, signer
        self.counts: dict[str, dict[str, dict[str, int]]] = {}
        self.engine: Any = None
        self._bomb: tuple[bytes, bytes] | None = None
        self._turns: dict[tuple[str, str], itertools.count] = {}
        self._corrupted: set[str] = set()

    # --- plumbing -------------------------------------------------------------------

    def mode(self) -> str:
        try:
            return self.mode_file.read_text().strip() or "refuse"
        except FileNotFoundError:
            return "refuse"

    def _count(self, mode: str, path: str, caller: str) -> None:
        by_path = self.counts.setdefault(mode, {}).setdefault(path, {})
        by_path[caller] = by_path.get(caller, 0) + 1
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.counts))
        os.replace(tmp, self.status_file)

    def turn(self, kind: str) -> int:
        """0, 1, 2, … per caller and kind: each validator sees every variant in turn."""
        return next(self._turns.setdefault((CALLER.get(), kind), itertools.count()))

    def bombs(self) -> tuple[bytes, bytes]:
        if self._bomb is None:
            self._bomb = _bombs()
        return self._bomb

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            path = target.split("?", 1)[0]
            mode = self.mode()
            caller = headers.get("x-bittensor-hotkey", "?")
            CALLER.set(caller)  # this connection's task only
            self._count(mode, path, caller)
            await self.answer(mode, method, path, body, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        extra: dict[str, str] | None = None,
        length: bool = True,
    ) -> None:
        reason = {200: "OK", 503: "Service Unavailable", 404: "Not Found"}.get(status, "X")
        head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        if length:
            head.append(f"Content-Length: {len(body)}")
        head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()

    # --- modes ----------------------------------------------------------------------

    async def answer(
        self, mode: str, method: str, path: str, body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        if path == "/healthz":
            await self.send(writer, 200, b'{"status": "ok"}')
            return
        if mode == "refuse":
            await self.send(writer, 503, b'{"error": "overloaded", "detail": "refused"}')
            return
        if mode in ("gzip-stacked", "gzip-single"):
            single, stacked = await asyncio.to_thread(self.bombs)
            encoding, data = ("gzip, gzip", stacked) if mode == "gzip-stacked" else ("gzip", single)
            await self.send(writer, 200, data, {"Content-Encoding": encoding})
        elif mode == "oversized":
            await self.oversized(writer)
        elif mode == "drip":
            await self.drip(writer)
        elif path == "/v1/capacity":
            await self.send(writer, 200, self.capacity(mode).encode())
        elif path == "/v1/rollout":
            await self.rollout(mode, body, writer)
        elif path == "/v1/shard":
            await self.shard(mode, body, writer)
        else:
            await self.send(writer, 404, b"{}")

    async def oversized(self, writer: asyncio.StreamWriter) -> None:
        if self.turn("oversized") % 2:
            # A declared length far past any cap (the body never comes).
            await self.send(writer, 200, b"", {"Content-Length": str(10**12)}, length=False)
            return
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + b'{"device": "')
        block = b"x" * (1 << 20)
        for _ in range(48):  # 48 MiB, past the 32 MiB cap: the reader must stop first
            writer.write(block)
            await writer.drain()

    async def drip(self, writer: asyncio.StreamWriter) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(DRIP_S)

    def capacity(self, mode: str) -> str:
        report: dict[str, Any] = {
            "spec_version": 1,
            "hotkey": self.hotkey,
            "time": time.time(),
            "device": "cpu",
            "device_name": "hostile",
            "workloads": ["rollout", "train_shard"],
            "precisions": ["fp32", "bf16"],
            "models_loaded": [],
            "slots": 4,
            "queue_limit": 8,
            "queue_depth": 0,
            "free_slots": 4,
            "busy_fraction": 0.5,
            "window_s": 60.0,
        }
        if mode != "capacity":
            return json.dumps(report)
        variant = CAPACITY_VARIANTS[self.turn("capacity") % len(CAPACITY_VARIANTS)]
        text = json.dumps({**report, **variant})
        for value in ("Infinity", "1e400", "NaN"):  # bare JSON numbers, not strings
            text = text.replace(f'"{value}"', value)
        return text

    def _engine(self) -> Any:
        if self.engine is None:
            from wmnet.miner.engine import RolloutEngine

            self.engine = RolloutEngine.load(precisions=("fp32", "bf16"), device="cpu")
        return self.engine

    def _rollout(self, raw: bytes, honest: bool) -> dict:
        from wmnet.miner.results import build_result
        from wmnet.protocol.rollout import RolloutTask, Timing

        task = RolloutTask.model_validate_json(raw)
        engine = self._engine()
        prepared = engine.prepare(task)
        cfg = engine.config(prepared.key.model_id)
        rng = np.random.default_rng()
        latent = (cfg.latent_channels, cfg.grid, cfg.grid)
        if honest:
            out = engine.run(prepared.key, [prepared])[0]
            ctx, lat = out.context_latents, out.latents
        else:
            ctx = rng.standard_normal((task.context.n_frames, *latent)).astype(np.float32)
            lat = rng.standard_normal((task.horizon, *latent)).astype(np.float32)
        frames = rng.integers(0, 256, (task.horizon, 3, cfg.resolution, cfg.resolution), np.uint8)
        timing = Timing(queue_ms=0.0, compute_ms=1.0, batch_size=1)
        result = build_result(task, ctx, lat, frames, timing, "cpu")
        return json.loads(result.model_dump_json())

    async def rollout(self, mode: str, raw: bytes, writer: asyncio.StreamWriter) -> None:
        if mode not in ("frames", "timings"):
            await self.send(writer, 503, b'{"error": "overloaded", "detail": "no"}')
            return
        answer = await asyncio.to_thread(self._rollout, raw, mode == "frames")
        text = json.dumps(answer)
        if mode == "timings":
            # Within bounds but far past any wall time (clamped), then non-finite ones.
            value = ("3600000.0", "Infinity", "1e400", "NaN")[self.turn("timings") % 4]
            text = text.replace('"compute_ms": 1.0', f'"compute_ms": {value}')
        await self.send(writer, 200, text.encode())

    # --- training shards ------------------------------------------------------------

    def _shard_context(self, raw: bytes | None) -> tuple[Any, int]:
        from wmnet.protocol.shard import ShardTask
        from wmnet.training import params
        from wmnet.worldmodel.checkpoint import load_default

        if not hasattr(self, "_n"):
            self._n = params.count(load_default())
        return (ShardTask.model_validate_json(raw) if raw else None), self._n

    def _result(self, task: Any, oid: str, size: int, compute_ms: str = "0.0") -> bytes:
        text = json.dumps(
            {
                "spec_version": 1,
                "task_id": task.task_id,
                "round_id": task.round_id,
                "base_id": task.base_id,
                "update_id": oid,
                "update_bytes": size,
                "samples": 1,
                "inner_steps": task.hyper.inner_steps,
                "compute_ms": 0.0,
                "loss_first": None,
                "loss_last": None,
                "device": "cpu",
            }
        )
        return text.replace('"compute_ms": 0.0', f'"compute_ms": {compute_ms}').encode()

    def _mine(self) -> Path:
        assert self.store is not None
        folder = self.store / "updates" / self.hotkey
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _others(self, since: float) -> list[Path]:
        assert self.store is not None
        found: list[tuple[float, Path]] = []
        for folder in (self.store / "updates").iterdir():
            if folder.name == self.hotkey or not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if not entry.name.startswith("."):
                    stored = entry.stat().st_mtime
                    if stored >= since:
                        found.append((stored, entry))
        return [entry for _, entry in sorted(found, reverse=True)]  # newest first

    async def _wait_for_others(self, since: float, timeout_s: float = 30) -> list[Path]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = await asyncio.to_thread(self._others, since)
            if found:
                return found
            await asyncio.sleep(0.05)
        return []

    def _lazy(self, task: Any, n: int) -> tuple[str, int]:
        from wmnet.training import envelope
        from wmnet.training.compress import compress
        from wmnet.training.store import LocalStore

        noise = np.random.default_rng().standard_normal(n).astype(np.float32) * 1e-6
        payload = compress(noise, task.hyper.density, task.hyper.chunk).to_bytes()
        data = envelope.seal(payload, task.task_id, self.signer)
        return LocalStore(self.store).put_update(self.hotkey, data), len(data)

    async def shard(self, mode: str, raw: bytes, writer: asyncio.StreamWriter) -> None:
        from wmnet.validator.shard_updates import expected_bytes

        if self.store is None or mode == "capacity":
            await self.send(writer, 503, b'{"error": "overloaded", "detail": "no"}')
            return
        # This round's updates are stored after this task arrived (training takes longer
        # than the slack); the previous round's were stored before its answers were
        # scored and this round opened. A wider window let a copy name the previous
        # round's update, which no check of this round can call a copy.
        arrived = time.time() - 0.2
        task, n = self._shard_context(raw)
        size = expected_bytes(task, n)
        if mode == "fifo":
            name = secrets.token_hex(32)
            os.mkfifo(self._mine() / name)
            await self.send(writer, 200, self._result(task, name, size))
        elif mode == "symlink":
            name = secrets.token_hex(32)
            others = await self._wait_for_others(arrived)
            target = others[0] if others and self.turn("symlink") % 2 else Path("/dev/zero")
            if target != Path("/dev/zero"):
                name = target.name  # its name matches the content it points at
            link = self._mine() / name
            link.unlink(missing_ok=True)
            link.symlink_to(target)
            await self.send(writer, 200, self._result(task, name, size))
        elif mode == "overwrite":
            others = await self._wait_for_others(arrived)
            await asyncio.sleep(2.0)  # after their answers: the validator pinned them
            for path in others:
                if path.name not in self._corrupted:
                    with open(path, "r+b") as fh:
                        fh.write(secrets.token_bytes(64))
                    self._corrupted.add(path.name)
            await self.send(writer, 200, self._result(task, secrets.token_hex(32), size))
        elif mode == "copy-id":
            others = await self._wait_for_others(arrived)
            oid = others[0].name if others else secrets.token_hex(32)
            await self.send(writer, 200, self._result(task, oid, size))
        elif mode == "copy-resign":
            others = await self._wait_for_others(arrived)
            oid = await asyncio.to_thread(self._resign, task, others)
            await self.send(writer, 200, self._result(task, oid, size))
        elif mode == "timings":
            oid, size = await asyncio.to_thread(self._lazy, task, n)
            bad = ("Infinity", "1e400", "NaN")[self.turn("shard-timings") % 3]
            await self.send(writer, 200, self._result(task, oid, size, bad))
        else:  # frames: a lazy, properly sealed update
            oid, size = await asyncio.to_thread(self._lazy, task, n)
            await self.send(writer, 200, self._result(task, oid, size))

    def _resign(self, task: Any, others: list[Path]) -> str:
        from wmnet.training import envelope
        from wmnet.training.store import LocalStore

        if not others:
            return secrets.token_hex(32)
        payload = envelope.read(others[0].read_bytes()).payload
        data = envelope.seal(payload, task.task_id, self.signer)
        return LocalStore(self.store).put_update(self.hotkey, data)


async def serve(hostile: Hostile, port: int, ready: asyncio.Event | None = None) -> None:
    server = await asyncio.start_server(hostile.handle, "127.0.0.1", port, limit=1 << 16)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode-file", type=Path, required=True)
    parser.add_argument("--status-file", type=Path, required=True)
    parser.add_argument("--wallet", required=True, help="a dev URI, e.g. //Charlie")
    parser.add_argument("--hotkey", required=True)
    parser.add_argument("--store", type=Path)
    args = parser.parse_args()
    from wmnet.localnet.keys import dev_keypair

    signer = dev_keypair(f"{args.wallet}//{args.hotkey}")
    hostile = Hostile(args.mode_file, args.status_file, signer.ss58_address, args.store, signer)
    hostile.bombs()  # ready before the first request, like the model
    hostile._engine()
    hostile._shard_context(None)
    asyncio.run(serve(hostile, args.port))


if __name__ == "__main__":
    main()
