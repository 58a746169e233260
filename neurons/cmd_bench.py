"""`wmnet bench ...`: benchmarks that print figures, never pass/fail on time."""

from __future__ import annotations

import typer

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


@app.command("epoch")
def epoch(
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    uids: int = typer.Option(256, "--uids", help="Subnet size n (dense n x n weights)."),
    validators: int = typer.Option(64, "--validators", help="UIDs with stake and weights."),
    repeats: int = typer.Option(30, "--repeats", help="Timed runs of the vectorised epoch."),
) -> None:
    """Time one Yuma3 epoch (localnet/yuma.py) against a loop reference."""
    import json
    import os
    import platform

    from bench.epoch import bench_epoch

    result = bench_epoch(n=uids, validators=validators, repeats=repeats)
    result["cpu"] = _cpu_model() or platform.processor() or platform.machine()
    result["cores"] = os.cpu_count()
    if json_out:
        typer.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Yuma3 epoch")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)
