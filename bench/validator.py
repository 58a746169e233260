"""Validator bench: how many miners one validator can probe per tempo, with 10 % of
them hostile beside none.

One validator process (this one) runs its real rollout round
(``ValidatorLoop.run_round``: capacity refresh, one task per miner, the bounded client,
the binding checks on every answer, the tempo's tally, usage, and the sampled audits
the round draws, which are waited for inside the timed round) against ``miners`` loopback miners
served by a child process, so the miners' work does not share this process's event
loop. Honest miners answer from a pool of honest rollouts computed before timing (the
validator's tasks are drawn from that pool: what is measured is the validator's cost,
not the miners'); hostile ones (``hostile_fraction`` of the miners, at least one) take
turns at the attacks a round must survive: a slow drip (held to the deadline), a
stacked gzip bomb, a body past the cap, capacity values out of bounds.

The two variants (no hostile miner, and 10 %) alternate round by round, ``repeats``
times each, with a capacity refresh every round. Figures per variant: round seconds
(min, median), miners probed per second (``miners / median round``), and miners per
tempo (a tempo of ``tempo_s`` seconds, 360 blocks of 12 s on finney, at one probe per
miner per tempo; the per-miner audit floor, run when a tempo closes, is not in these
figures). Every answer is checked: the honest ones must pass the binding checks and the
hostile ones must score 0, or the bench says so.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import multiprocessing
import shutil
import statistics
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from wmnet.harness.graphs import FixedGraph, FixedNeuron
from wmnet.harness.wallets import load_wallet
from wmnet.localnet.keys import dev_keypair
from wmnet.miner.engine import RolloutEngine
from wmnet.miner.results import build_result
from wmnet.protocol.rollout import RolloutTask, SeededContext, Timing
from wmnet.validator.config import ValidatorConfig
from wmnet.validator.loop import ValidatorLoop
from wmnet.validator.miner_client import miner_http_client
from wmnet.validator.tasks import TaskPolicy
from wmnet.validator.usage import MemoryUsageSink
from wmnet.worldmodel.checkpoint import default_model_id, load_default

PLACEHOLDER = "bench-task-id-0000"
HOSTILE_MODES = ("drip", "gzip", "oversized", "capacity")
TEMPO_S = 360 * 12.0


def _pool(model_id: str, size: int, horizon: int, context: int) -> dict[int, bytes]:
    """Honest answers (JSON, task id ``PLACEHOLDER``) keyed by context seed."""
    engine = RolloutEngine.load(precisions=("fp32",), device="cpu")
    rng = np.random.default_rng(7)
    answers = {}
    for i in range(size):
        task = RolloutTask(
            task_id=PLACEHOLDER,
            model_id=model_id,
            context=SeededContext(seed=1000 + i, n_frames=context),
            actions=[int(a) for a in rng.integers(0, 5, horizon)],
        )
        prepared = engine.prepare(task)
        out = engine.run(prepared.key, [prepared])[0]
        result = build_result(
            task, out.context_latents, out.latents, None, Timing(queue_ms=0, compute_ms=1,
            batch_size=1), "cpu", out.digests,
        )  # fmt: skip
        answers[1000 + i] = result.model_dump_json().encode()
    return answers


# --- the miners' process ------------------------------------------------------------------


def _capacity(hotkey: str, bad: bool) -> bytes:
    report = {
        "spec_version": 1, "hotkey": hotkey, "time": time.time(), "device": "cpu",
        "device_name": "bench", "workloads": ["rollout"], "precisions": ["fp32"],
        "models_loaded": [], "slots": 8, "queue_limit": 64, "queue_depth": 0,
        "free_slots": 8, "busy_fraction": 0.1, "window_s": 60.0,
    }  # fmt: skip
    if bad:
        report["slots"] = 2**63
    return json.dumps(report).encode()


async def _miner(reader, writer, hotkey: str, mode: str, pool: dict, bomb: bytes) -> None:  # noqa: ANN001
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        length = next(
            (int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length")), 0
        )
        body = await reader.readexactly(length)
        status, extra, data = 200, "", b""
        if mode == "drip":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            for _ in range(1200):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.5)
            return
        if mode == "gzip":
            extra, data = "Content-Encoding: gzip, gzip\r\n", bomb
        elif mode == "oversized":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            for _ in range(48):
                writer.write(b"x" * (1 << 20))
                await writer.drain()
            return
        elif path == "/v1/capacity":
            data = _capacity(hotkey, mode == "capacity")
        elif mode == "capacity":
            status, data = 503, b'{"error": "overloaded", "detail": "no"}'
        else:
            task = json.loads(body)
            data = pool[task["context"]["seed"]].replace(
                PLACEHOLDER.encode(), task["task_id"].encode()
            )
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, OSError, ValueError, KeyError):
        pass
    finally:
        writer.close()


def _serve_miners(specs: list[tuple[int, str, str]], pool: dict, ready: Any) -> None:
    """Child process: one loopback server per (port, hotkey, mode)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    single = b"".join(packer.compress(bytes(1 << 20)) for _ in range(256)) + packer.flush()
    bomb = gzip.compress(single, 9)

    async def main() -> None:
        for port, hotkey, mode in specs:
            await asyncio.start_server(
                lambda r, w, h=hotkey, m=mode: _miner(r, w, h, m, pool, bomb), "127.0.0.1", port
            )
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the validator ------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def bench_validator(
    miners: int = 30,
    hostile_fraction: float = 0.1,
    repeats: int = 3,
    horizon: int = 16,
    deadline_s: float = 2.0,
    tempo_s: float = TEMPO_S,
) -> dict[str, Any]:
    model_id = default_model_id()
    model = load_default().eval()
    pool = _pool(model_id, 8, horizon, 4)
    seeds = sorted(pool)
    n_hostile = max(1, math.ceil(hostile_fraction * miners))
    ports = _free_ports(miners + n_hostile)
    hotkeys = [dev_keypair(f"//Bench//{i}").ss58_address for i in range(miners + n_hostile)]
    modes = ["honest"] * miners + [HOSTILE_MODES[i % len(HOSTILE_MODES)] for i in range(n_hostile)]
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(
        target=_serve_miners,
        args=(list(zip(ports, hotkeys, modes, strict=True)), pool, ready),
        daemon=True,
    )
    child.start()
    if not ready.wait(120):
        child.kill()
        raise RuntimeError("the bench's miners did not start")
    neurons = [
        FixedNeuron(i, hotkeys[i], f"127.0.0.1:{ports[i]}") for i in range(miners + n_hostile)
    ]
    # Variant "none": every miner honest; "hostile": the last n_hostile honest ones
    # replaced by hostile ones (the same number of miners asked per round).
    variants = {
        "none": neurons[:miners],
        "hostile": neurons[: miners - n_hostile] + neurons[miners:],
    }
    counter = iter(range(10**9))

    def draw(rng, policy, mid, precision) -> RolloutTask:  # noqa: ANN001
        n = next(counter)
        seed = seeds[n % len(seeds)]
        raw = json.loads(pool[seed])
        return RolloutTask(
            task_id=f"bench-{n:012d}",
            model_id=mid,
            context=SeededContext(seed=seed, n_frames=raw["context_latents"]["shape"][0]),
            actions=_actions(pool, seed, horizon),
            precision="fp32",
            deadline_ms=round(deadline_s * 1000),
        )

    scratch = tempfile.mkdtemp(prefix="wmnet-bench-validator-")
    config = ValidatorConfig(
        netuid=1,
        state_path=Path(scratch) / "state.json",
        usage_path=Path(scratch) / "usage.jsonl",
        sample_size=miners,
        policy=TaskPolicy(
            horizons=(horizon,), context_frames=4, deadline_ms=round(deadline_s * 1000)
        ),
        capacity_refresh_blocks=1,
        capacity_timeout_s=deadline_s,
        precisions=("fp32",),
        seed=0,
    )
    try:
        rounds = asyncio.run(_rounds(config, model, model_id, draw, variants, repeats, n_hostile))
    finally:
        child.kill()
        child.join(10)
        shutil.rmtree(scratch, ignore_errors=True)
    return _figures(rounds, miners, n_hostile, repeats, horizon, deadline_s, tempo_s)


_ACTIONS: dict[int, list[int]] = {}


def _actions(pool: dict, seed: int, horizon: int) -> list[int]:
    """The actions the pool's answer for ``seed`` was computed for (drawn at seed 7)."""
    if not _ACTIONS:
        rng = np.random.default_rng(7)
        for s in sorted(pool):
            _ACTIONS[s] = [int(a) for a in rng.integers(0, 5, horizon)]
    return _ACTIONS[seed]


async def _rounds(config, model, model_id, draw, variants, repeats, n_hostile) -> dict:  # noqa: ANN001
    loop = ValidatorLoop(config, load_wallet("//Bob", "bench-validator"), model, model_id,
                         MemoryUsageSink(), draw=draw)  # fmt: skip
    out: dict[str, list[float]] = {name: [] for name in variants}
    checked: dict[str, list[tuple[int, int]]] = {name: [] for name in variants}
    block = 0
    async with miner_http_client() as http:
        for targets in variants.values():  # one untimed warm-up round each
            block += 1
            await loop.run_round(http, FixedGraph(targets, block))
        for _ in range(repeats):
            for name, targets in variants.items():
                block += 1
                start = time.perf_counter()
                report = await loop.run_round(http, FixedGraph(targets, block))
                await loop.auditor.drain()  # the round's sampled audits count too
                out[name].append(time.perf_counter() - start)
                accepted = sum(o.accepted for o in report.outcomes)
                checked[name].append((accepted, len(report.outcomes)))
    for name, counts in checked.items():
        honest = len(variants[name]) - (n_hostile if name == "hostile" else 0)
        if any(v != honest for v, _ in counts):
            raise RuntimeError(f"{name}: {counts} accepted, expected {honest} per round")
    return out


def _figures(rounds, miners, n_hostile, repeats, horizon, deadline_s, tempo_s) -> dict:  # noqa: ANN001
    res: dict[str, Any] = {
        "miners": miners,
        "hostile": n_hostile,
        "hostile_modes": list(HOSTILE_MODES[: min(n_hostile, len(HOSTILE_MODES))]),
        "repeats": repeats,
        "horizon": horizon,
        "deadline_s": deadline_s,
        "tempo_s": tempo_s,
    }
    for name, times in rounds.items():
        median = statistics.median(times)
        res[f"{name}_round_s_min"] = round(min(times), 3)
        res[f"{name}_round_s_median"] = round(median, 3)
        res[f"{name}_probes_per_s"] = round(miners / median, 2)
        res[f"{name}_miners_per_tempo"] = int(tempo_s * miners / median)
    return res
