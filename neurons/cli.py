"""The `wmnet` command line: one typer app, one sub-app per area.

Entry points only. Each sub-app lives in its own module and imports the
heavy libraries (torch, the SDK) inside its commands, so `wmnet --help`
stays fast.

:func:`main` is the installed ``wmnet`` script: it runs the app and prints a usage
mistake (a missing or malformed option, an unknown network) as one line ending with
where help is, exit status 2, instead of click's boxed usage text.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata

import typer

from wmnet.neurons.cmd_bench import app as bench_app
from wmnet.neurons.cmd_demo import demo
from wmnet.neurons.cmd_ledger import app as ledger_app
from wmnet.neurons.cmd_localnet import app as localnet_app
from wmnet.neurons.cmd_miner import app as miner_app
from wmnet.neurons.cmd_model import app as model_app
from wmnet.neurons.cmd_subnet import app as subnet_app
from wmnet.neurons.cmd_validator import app as validator_app

app = typer.Typer(
    name="wmnet",
    help="wmnet: a Bittensor subnet for world-model compute.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback that lists local variables can print key material: never.
    pretty_exceptions_show_locals=False,
)


def version_text() -> str:
    """``wmnet 0.1.0 (bittensor 11.3.0, Python 3.11.7)``: what an upgrade changes."""
    from platform import python_version

    def of(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return f"wmnet {of('wmnet')} (bittensor {of('bittensor')}, Python {python_version()})"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    """wmnet: a Bittensor subnet for world-model compute."""


app.add_typer(localnet_app, name="localnet", help="The embedded local subtensor.")
app.add_typer(subnet_app, name="subnet", help="Create, register, stake and inspect subnets.")
app.add_typer(miner_app, name="miner", help="Serve rollouts as a miner on a subnet.")
app.add_typer(model_app, name="model", help="Train and evaluate the reference world model.")
app.add_typer(validator_app, name="validator", help="Verify miners' work and set weights.")
app.add_typer(
    ledger_app, name="ledger", help="The emissions ledger: ingest, report, serve the dashboard."
)
app.add_typer(bench_app, name="bench", help="Benchmarks that print figures.")
app.command("demo")(demo)


# click's exceptions, wherever this typer keeps them (recent typers vendor click).
click_errors = importlib.import_module(typer.BadParameter.__module__)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Run ``wmnet``; usage mistakes are one line on stderr and exit status 2."""
    from rich.markup import escape

    from wmnet.neurons.output import EXIT_USAGE, err_console

    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="wmnet", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as error:  # bare `wmnet subnet`: the help
        error.show()
        sys.exit(error.exit_code)
    except click_errors.UsageError as error:
        where = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        err_console.print(
            f"[bold red]error:[/] {escape(_one_line(error.format_message()) + where)}",
            soft_wrap=True,
            highlight=False,
            markup=True,
        )
        sys.exit(EXIT_USAGE)
    except click_errors.ClickException as error:
        message = escape(_one_line(error.format_message()))
        err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)
        sys.exit(error.exit_code)
    except typer.Abort:
        err_console.print("aborted", soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
