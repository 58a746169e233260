"""The `wmnet` command line: one typer app, one sub-app per area.

Entry points only. Each sub-app lives in its own module and imports the
heavy libraries (torch, the SDK) inside its commands, so `wmnet --help`
stays fast.
"""

from __future__ import annotations

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
)
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


if __name__ == "__main__":  # pragma: no cover
    app()
