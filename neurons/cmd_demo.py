"""`wmnet demo`: run the whole subnet on the embedded local subtensor."""

from __future__ import annotations

import typer


def demo(
    miners: int = typer.Option(3, help="Number of miners to register."),
    tempos: int = typer.Option(2, help="Number of tempos to run."),
    json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Set up a subnet on the embedded chain and run it for a few tempos."""
    raise typer.Exit(1)
