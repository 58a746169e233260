"""Printing for the CLI: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
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


# Exit statuses: 1 when the work failed (the chain refused, a run broke), 2 when what
# was asked cannot be done as asked (a mistyped option, an unknown wallet, a busy port):
# fix the command line and run it again.
EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print a clear error and exit non-zero (no traceback for user errors).

    One line whatever the terminal's width (``soft_wrap``): scripts and people grep it.
    """
    import typer

    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def usage_error(message: str) -> NoReturn:
    """A request that cannot be done as asked: one line saying what to do, exit 2."""
    fail(message, EXIT_USAGE)


def note(message: str) -> None:
    """A line for the person at the terminal, on stderr so ``--json`` stays parseable."""
    err_console.print(message, soft_wrap=True, highlight=False)


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
