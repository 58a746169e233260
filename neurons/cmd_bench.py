"""`wmnet bench ...`: benchmarks that print figures, never pass/fail on time."""

from __future__ import annotations

import typer

from wmnet.protocol.spec import MAX_INNER_BATCH, MAX_INNER_STEPS

app = typer.Typer(no_args_is_help=True)


def _cpu_model() -> str:
    """`model name` from /proc/cpuinfo (what lscpu shows), empty when unavailable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _machine(res: dict) -> dict:
    """Stamp the figures with the machine they ran on (cpu model, core count)."""
    import os

    res["cpu"] = _cpu_model()
    res["cores"] = os.cpu_count()
    return res


def _print_figures(res: dict, title: str, as_json: bool, *, float_fmt: str = "") -> None:
    """One JSON object with ``--json``, else a two-column table of every figure."""
    if as_json:
        import json

        typer.echo(json.dumps(res))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in res.items():
        shown = format(value, float_fmt) if float_fmt and isinstance(value, float) else str(value)
        table.add_row(key, shown)
    Console().print(table)


@app.command("epoch")
def epoch(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    uids: int = typer.Option(256, "--uids", help="Subnet size n (dense n x n weights)."),
    validators: int = typer.Option(64, "--validators", help="UIDs with stake and weights."),
    repeats: int = typer.Option(
        30, "--repeats", help="Timed runs of the vectorised epoch, each branch."
    ),
) -> None:
    """Time one epoch (localnet/yuma.py), Yuma3 and pre-Yuma3, against a loop reference."""
    import os
    import platform

    from wmnet.bench.clock import bench_clock
    from wmnet.bench.epoch import bench_epoch
    from wmnet.bench.rpc import bench_rpc

    result = bench_epoch(n=uids, validators=validators, repeats=repeats)
    result.update(bench_clock(neurons=uids))
    result.update(bench_rpc(neurons=uids))
    result["cpu"] = _cpu_model() or platform.processor() or platform.machine()
    result["cores"] = os.cpu_count()
    _print_figures(result, "Yuma epoch (epoch_ms: Yuma3; epoch_ms_yuma2: Yuma3On off)", json_out)


@app.command("rollout")
def rollout_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    resolution: int = typer.Option(
        32,
        "--resolution",
        help="Frame side. Other than the shipped model's 32: random weights (speed only).",
    ),
    contexts: int = typer.Option(
        0, "--contexts", help="Timed rollouts (B); batched variants run all. 0: 16 (quick 2)."
    ),
    context: int = typer.Option(0, "--context", help="Context frames per rollout. 0: 4 (quick 2)."),
    horizon: int = typer.Option(
        0, "--horizon", help="Predicted frames per rollout (T). 0: 12 (quick 3)."
    ),
    rounds: int = typer.Option(
        0, "--rounds", help="Interleaved rounds; every variant runs once a round. 0: 5 (quick 2)."
    ),
    error_episodes: int = typer.Option(
        -1,
        "--error-episodes",
        help="Held-out episodes for error_increase_pct. -1: 256 (quick 8); 0 skips.",
    ),
    combined_precision: str = typer.Option(
        "",
        "--combined-precision",
        help="Precision of the combined variants (default: fp32 on CPU, where no lower"
        " precision gained, bf16 on CUDA).",
    ),
    sparse_resolution: int = typer.Option(
        -1,
        "--sparse-resolution",
        help="Side of the dense-vs-sparse comparison. -1: 128 (quick 64); 0 skips.",
    ),
    sparse_horizon: int = typer.Option(
        0, "--sparse-horizon", help="Frames of the dense-vs-sparse rollout. 0: 12 (quick 2)."
    ),
    rss_horizons: str = typer.Option(
        "12,96",
        "--rss-horizons",
        help="Horizons whose peak RSS is measured, each in a fresh process ('' skips).",
    ),
    quick: bool = typer.Option(False, "--quick", help="Small sizes: a run of seconds."),
    skip: str = typer.Option("", "--skip", help="Comma-separated variant names to leave out."),
    seed: int = typer.Option(0, "--seed", help="Held-out episode seed. 0: BENCH_SEED."),
    model_id: str = typer.Option("", "--model", help="Model id (default: the shipped one)."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)."),
) -> None:
    """World-model rollout speed pillars: KV cache, batching, sparse attention, int8/bf16.

    Variants interleaved in rounds, each repeated (min and median); error over held-out
    episodes; dense vs sparse at 128x128; peak RSS against horizon. Progress on stderr.
    """
    import json

    import torch

    from wmnet.bench.rollout import BENCH_SEED, run_bench

    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    if combined_precision not in ("", "fp32", "bf16", "int8"):
        raise typer.BadParameter("--combined-precision must be fp32, bf16 or int8")
    try:
        rss = tuple(int(h) for h in rss_horizons.split(",") if h.strip())
    except ValueError as exc:
        raise typer.BadParameter("--rss-horizons: comma-separated integers") from exc
    if threads:
        torch.set_num_threads(threads)
    try:
        res = run_bench(
            device=device,
            resolution=resolution,
            contexts=contexts or None,
            context=context or None,
            horizon=horizon or None,
            rounds=rounds or None,
            error_episodes=None if error_episodes < 0 else error_episodes,
            combined_precision=combined_precision or None,
            sparse_resolution=None if sparse_resolution < 0 else sparse_resolution,
            sparse_horizon=sparse_horizon or None,
            rss_horizons=rss,
            quick=quick,
            skip=tuple(x.strip() for x in skip.split(",") if x.strip()),
            seed=seed or BENCH_SEED,
            model_id=model_id or None,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if res["device"] == "cpu":
        res["cpu_model"] = _cpu_model()
    if json_out:
        typer.echo(json.dumps(res))
        return
    from rich.console import Console
    from rich.table import Table

    title = (
        f"rollout bench on {res.get('cpu_model') or res['device']} "
        f"({res['threads']} threads), {res['resolution']}x{res['resolution']}, "
        f"B={res['contexts']}, context {res['context']}, horizon {res['horizon']}, "
        f"{res['rounds']} interleaved rounds"
    )
    table = Table(title=title)
    for col in (
        "variant",
        "frames/s (median)",
        "frames/s (best)",
        "speedup",
        "frame MSE (timed)",
        "error vs naive",
        "GFLOP/frame",
        "GFLOP/s",
        "MFU",
    ):
        table.add_column(col, justify="right")

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:+.2f}%"

    for v in res["variants"]:
        mfu = "-" if v["mfu"] is None else f"{100 * v['mfu']:.2f}%"
        table.add_row(
            v["name"],
            f"{v['frames_per_s']:.1f}",
            f"{v['frames_per_s_best']:.1f}",
            "-" if v["speedup"] is None else f"{v['speedup']:.2f}x",
            f"{v['error_mse']:.5f}",
            pct(v["error_increase_pct"]),
            f"{v['flops_per_frame'] / 1e9:.3f}",
            f"{v['achieved_flops'] / 1e9:.1f}",
            mfu,
        )
    console = Console()
    console.print(table)
    summary = Table(title="headline figures")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    for key in (
        "speedup",
        "speedup_best",
        "error_increase_pct",
        "error_episodes",
        "error_seed",
        "error_mse_naive",
        "error_mse_combined",
        "sparse_resolution",
        "sparse_speedup",
        "sparse_speedup_128",
        "peak_rss_mb_h12",
        "peak_rss_mb_h96",
        "peak_rss_ratio_96_12",
    ):
        val = res.get(key)
        summary.add_row(
            key, "-" if val is None else f"{val:.4g}" if isinstance(val, float) else str(val)
        )
    console.print(summary)
    if not res["trained_model"]:
        typer.echo("note: no trained checkpoint at this resolution; errors are not meaningful")


@app.command("serve")
def serve_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    requests: int = typer.Option(200, "--requests", min=1, help="Timed rollouts."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Clients in flight."),
    horizon: int = typer.Option(16, "--horizon", min=1, max=256, help="Steps per rollout."),
    max_batch: int = typer.Option(8, "--max-batch", min=1, help="The miner's batch limit."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu or cuda."),
) -> None:
    """Authenticated rollouts/s, latency and the auth gate's share through a real miner."""

    from wmnet.bench.serve import bench_serve

    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    res = bench_serve(
        requests=requests,
        concurrency=concurrency,
        horizon=horizon,
        max_batch=max_batch,
        device=device,
    )
    title = "miner serve (btauth/1-signed rollouts over loopback HTTP)"
    _print_figures(_machine(res), title, json_out)


@app.command("validator")
def validator_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    miners: int = typer.Option(30, "--miners", min=1, max=1000, help="Miners asked per round."),
    hostile: float = typer.Option(
        0.1, "--hostile", min=0.0, max=0.5, help="Share of them hostile (at least one)."
    ),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed rounds per variant."),
    horizon: int = typer.Option(16, "--horizon", min=1, max=256, help="Steps per rollout."),
    deadline: float = typer.Option(2.0, "--deadline", min=0.1, help="Seconds per rollout."),
) -> None:
    """Miners one validator probes per tempo: 10 % hostile beside none, interleaved."""
    from wmnet.bench.validator import bench_validator

    res = bench_validator(
        miners=miners, hostile_fraction=hostile, repeats=repeats, horizon=horizon,
        deadline_s=deadline,
    )  # fmt: skip
    title = "validator probe rounds (none hostile vs a share hostile, same run)"
    _print_figures(_machine(res), title, json_out)


@app.command("compress")
def compress_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workers: int = typer.Option(4, "--workers", min=1, help="Workers (miners) per round."),
    rounds: int = typer.Option(8, "--rounds", min=1, help="Outer rounds in each arm."),
    inner_steps: int = typer.Option(10, "--inner-steps", min=1, help="Inner steps H."),
    batch: int = typer.Option(4, "--batch", min=1, help="Windows per inner step."),
    density: float = typer.Option(60 / 4096, "--density", help="Top-k share per chunk."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)."),
    replicas: int = typer.Option(
        3, "--replicas", min=1, help="Independent runs on different shards (loss: median)."
    ),
) -> None:
    """Training-shard compression: bytes per sync and held-out loss vs dense DiLoCo."""

    import torch

    from wmnet.bench.compress import run_compress_bench
    from wmnet.protocol.shard import InnerHyper

    if not 0 < density <= 1:
        raise typer.BadParameter("--density must lie in (0, 1]")
    if threads:
        torch.set_num_threads(threads)
    hyper = InnerHyper(inner_steps=inner_steps, batch=batch, seq_len=6, lr=1e-3, density=density)
    res = run_compress_bench(
        workers=workers,
        rounds=rounds,
        hyper=hyper,
        replicas=replicas,
        progress=lambda line: typer.echo(line, err=True),
    )
    title = "training-shard compression (SparseLoCo format vs dense DiLoCo)"
    _print_figures(_machine(res), title, json_out, float_fmt=".6g")


@app.command("gauntlet")
def gauntlet_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    rounds: int = typer.Option(100, "--rounds", min=1, help="Rounds (fresh shards) per H."),
    inner_steps: str = typer.Option(
        "8,10,16", "--inner-steps", help="Comma-separated H values, run on the same shards."
    ),
    batch: int = typer.Option(
        0, "--batch", min=0, max=MAX_INNER_BATCH, help="Windows per step (0: validator's)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the round ids and control data."),
    threads: int = typer.Option(1, "--threads", min=0, help="torch threads (0: torch's)."),
) -> None:
    """Honest training-shard updates scored 0 by the Gauntlet (false negatives), per H."""
    import torch

    from wmnet.bench.gauntlet import run_gauntlet_bench

    try:
        steps = [int(part) for part in inner_steps.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter("--inner-steps takes integers, e.g. 8,10,16") from None
    if not steps or not all(1 <= h <= MAX_INNER_STEPS for h in steps):
        raise typer.BadParameter(f"--inner-steps: each H in 1..{MAX_INNER_STEPS}, e.g. 8,10,16")
    if threads:
        torch.set_num_threads(threads)
    res = run_gauntlet_bench(
        rounds=rounds,
        inner_steps=steps,
        batch=batch or None,
        seed=seed,
        progress=lambda line: typer.echo(line, err=True),
    )
    _print_figures(_machine(res), "Gauntlet false negatives of honest updates, per H", json_out)


@app.command("ledger")
def ledger_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Default: SQLite files in a temp dir. postgresql+psycopg://… makes "
        "scratch databases on that server and drops them.",
    ),
    events: int = typer.Option(100_000, "--events", min=1000, help="Usage lines ingested."),
    rows: int = typer.Option(1_000_000, "--rows", min=1000, help="Usage rows under the report."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed runs of each step."),
) -> None:
    """Ledger ingestion events/s and report latency over a million usage rows."""

    from wmnet.bench.ledger import bench_ledger

    res = bench_ledger(db, events=events, rows=rows, repeats=repeats)
    _print_figures(_machine(res), f"ledger bench ({res['backend']})", json_out)


@app.command("audit")
def audit_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    honest: int = typer.Option(1008, "--honest", min=16, help="Honest answers in the pool."),
    fakes: int = typer.Option(192, "--fakes", min=3, help="Faked answers in the pool."),
    tempos: int = typer.Option(50, "--tempos", min=1, help="Simulated tempos."),
    probes: int = typer.Option(
        0, "--probes", min=0, help="Probe answers per miner per tempo (0: the default)."
    ),
    cheaters: int = typer.Option(100, "--cheaters", min=1, help="Cheater replicas per run."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)."),
) -> None:
    """Sampled audits: their cost, and a cheater's earnings against an honest miner's."""
    import torch

    from wmnet.bench.audit import run_audit_bench

    if threads:
        torch.set_num_threads(threads)
    res = run_audit_bench(
        honest=honest,
        fakes=fakes,
        tempos=tempos,
        probes=probes or None,
        n_cheaters=cheaters,
        progress=lambda line: typer.echo(line, err=True),
    )
    res = _machine(res)
    if json_out:
        import json

        typer.echo(json.dumps(res))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="cheater's emission / honest miner's (rate -> fraction faked)")
    fractions = list(next(iter(res["cheater_earnings_ratio"].values())))
    table.add_column("audit rate")
    for f in fractions:
        table.add_column(f"f={f}", justify="right")
    for rate, row in res["cheater_earnings_ratio"].items():
        table.add_row(rate, *(f"{row[f]:.3f}" for f in fractions))
    console.print(table)
    flat = {k: v for k, v in res.items() if k != "cheater_earnings_ratio"}
    _print_figures(flat, f"audit bench on {res['cpu'] or 'cpu'}", False)


@app.command("verify")
def verify_bench(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    rollouts: int = typer.Option(
        200,
        "--rollouts",
        help="Lazy rollouts (10 % of steps faked) per horizon (1/4 at 256).",
    ),
    honest: int = typer.Option(1000, "--honest", help="Honest rollouts per horizon (1/16 at 256)."),
    horizons: str = typer.Option("16,64,256", "--horizons", help="Comma-separated horizons."),
    batch: int = typer.Option(16, "--batch", help="Batch size of miner and validator."),
    repeats: int = typer.Option(3, "--repeats", help="Timed generate/verify pairs per precision."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
) -> None:
    """Teacher-forced verification: cost vs generation, lazy miners caught, false rejections."""
    import json

    import torch

    from wmnet.bench.verify import run_verify_bench

    if device not in ("cpu", "cuda"):
        raise typer.BadParameter("--device must be cpu or cuda", param_hint="--device")
    if device == "cuda" and not torch.cuda.is_available():
        typer.echo(
            "bench verify --device cuda: no CUDA device on this machine (torch "
            f"{torch.__version__}, cuda {torch.version.cuda}); nothing measured. Run it on a "
            "GPU box; the CPU figures are `wmnet bench verify`.",
            err=True,
        )
        raise typer.Exit(2)

    try:
        hs = tuple(int(h) for h in horizons.split(","))
    except ValueError:
        raise typer.BadParameter("--horizons must be comma-separated integers") from None
    if not hs or min(hs) < 1 or min(rollouts, honest, batch, repeats) < 1:
        raise typer.BadParameter("horizons, --rollouts, --honest, --batch, --repeats must be >= 1")
    if threads:
        torch.set_num_threads(threads)
    res = run_verify_bench(
        horizons=hs,
        rollouts=rollouts,
        honest=honest,
        batch=batch,
        repeats=repeats,
        progress=lambda line: typer.echo(line, err=True),
        device=device,
    )
    res["cpu_model"] = _cpu_model()
    if json_out:
        typer.echo(json.dumps(res))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"verify bench on {res['cpu_model'] or 'cpu'} ({res['threads']} threads), "
        f"batch {batch}"
    )
    for col in (
        "horizon",
        "verify/generate (median, min)",
        "detection",
        "false rejections",
        "honest",
        "lazy",
    ):
        table.add_column(col, justify="right")
    for h in hs:
        r = res[f"h{h}"]
        cost = r["verify_cost_fraction"]
        table.add_row(
            str(h),
            f"{cost['median']:.2f}, {cost['min']:.2f}",
            f"{r['detection_rate']:.3f}",
            f"{r['false_rejection_rate']:.4f}",
            str(r["honest"]),
            str(r["rollouts"]),
        )
    Console().print(table)
