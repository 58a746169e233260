"""Printing for the CLI: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(v) for v in row])
    console.print(table)


def fail(message: str, code: int = 1) -> None:
    """Print a clear error and exit non-zero (no traceback for user errors)."""
    import typer

    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def print_metagraph(title: str, neurons: list[dict[str, Any]]) -> None:
    """One row per UID, from the dicts `subnet show --json` and `demo --json` print.

    People read alpha (1 α = 1e9 rao); the JSON keeps exact rao.
    """
    print_table(
        title,
        ["uid", "hotkey", "stake α", "permit", "incent.", "divs", "emission α", "axon"],
        [
            [
                n["uid"],
                n["hotkey"][:8] + "…",
                f"{n['stake_rao'] / 1e9:,.3f}",
                "yes" if n["validator_permit"] else "no",
                f"{n['incentive']:.4f}",
                f"{n['dividends']:.4f}",
                f"{n['emission_rao'] / 1e9:.4f}",
                n["axon"] or "-",
            ]
            for n in neurons
        ],
    )


# What `--network` takes, the same in every command.
NETWORK_HELP = (
    "localnet (ws://127.0.0.1:9944), ws://HOST:PORT, local, test, finney, http://HOST:PORT"
)
