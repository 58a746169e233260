"""`wmnet demo`: the whole subnet on this machine, in one command.

1. start the embedded local subtensor (served on loopback, fast blocks);
2. create and start a subnet with dev wallets (commit-reveal off, weights rate limit
   0), register and stake a validator, register the miners (``demo_setup``);
3. open a demo ledger, price rollouts and fund a customer (``demo_customer``);
4. start each miner and the validator as its own process (``LocalSubnet``): honest
   miners at fp32/bf16/int8 that also train shards, and one labelled cheater that
   answers rollouts with random latents and trains nothing; the validator records
   into the ledger, serves the customer gateway and runs training-shard rounds;
5. let the customer buy rollouts through the gateway while the subnet runs ``tempos``
   epochs after the validator's first weights, shown live (``demo_display``);
6. ingest the chain's epochs into the ledger and print its report per workload, the
   miners' final incentive and a PNG (``demo_report``); exit non-zero, saying what
   failed, when any part did.

Every process started here is stopped on the way out, whatever the way (``ProcessGroup``:
normal exit, an error, Ctrl-C, SIGTERM, or SIGKILL through the parent-death signal).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from wmnet.neurons.output import console, err_console, fail, print_json

T = TypeVar("T")
BLOCK_TIME_S = 0.5  # a tempo (10 blocks + 1) is 5.5 s
DEFAULT_TAO_PRICE = "300"  # assumed, to value emissions in currency (--tao-price)
HONEST_PRECISIONS = ("fp32", "bf16", "int8")
VALIDATOR_OPTIONS = [
    "--round-interval", "0.5", "--horizons", "8", "--seed", "1",
    "--shard-interval", "4", "--inner-steps", "8",
]  # fmt: skip
SETTLE_EXTRA_S = 180.0  # beyond the asked tempos, wait at most this long for the checks


class DemoFailed(RuntimeError):
    """A step of the demo failed; the message says which and why."""


@dataclass(frozen=True)
class Plan:
    """The miners to start: their specs and labels (the last one cheats)."""

    specs: list[Any]
    labels: list[str]
    cheaters: list[bool]

    @classmethod
    def make(cls, n: int, store: Path) -> Plan:
        from wmnet.harness.local_subnet import MinerSpec

        specs, labels = [], []
        for i in range(n - 1):
            precision = HONEST_PRECISIONS[i % len(HONEST_PRECISIONS)]
            specs.append(MinerSpec(precisions=precision, extra=("--store", str(store))))
            labels.append(f"honest {precision}, trains shards")
        specs.append(MinerSpec(cheat="random"))  # no --store: it trains nothing either
        labels.append("CHEATER: random rollouts, no shards")
        return cls(specs, labels, [False] * (n - 1) + [True])


def _wide(base: Console) -> Console:
    """``base``, or a wide twin when it is not a terminal (rich assumes 80 columns there,
    which would cut the tables short in a log or a pasted README)."""
    return base if base.is_terminal else Console(width=200, stderr=base.stderr)


def _step(say: Console, what: str, action: Callable[[], T]) -> T:
    started = time.monotonic()
    try:
        result = action()
    except (RuntimeError, OSError, ValueError) as error:
        raise DemoFailed(f"{what}: {error}") from error
    say.print(f"  [green]✓[/] {what} [dim]({time.monotonic() - started:.1f} s)[/]")
    return result


def _start_validator(net: Any, db_url: str, store: Path, gateway_port: int) -> str:
    from wmnet.harness.processes import wait_http_ok

    extra = [*VALIDATOR_OPTIONS, "--db", db_url, "--store", str(store)]
    child = net.start_validator([*extra, "--gateway-port", str(gateway_port)])
    url = f"http://127.0.0.1:{gateway_port}"
    wait_http_ok(url + "/healthz", child, timeout_s=300)
    return url


@dataclass
class Settled:
    """What the run waits for before it stops: the report's checks can then pass."""

    first_weights: int | None = None
    first_shard_score: int | None = None

    def update(self, state: dict[str, Any], block: int) -> None:
        # The block the weights were seen at: the validator stamps them with the block
        # its round began at, which may be many blocks before they landed.
        if self.first_weights is None and state.get("last_weights_block") is not None:
            self.first_weights = block
        if self.first_shard_score is None and any(
            v > 0 for v in state.get("shard_scores", {}).values()
        ):
            self.first_shard_score = block

    def done(self, snap: Any, miners: list[Any], served: int) -> bool:
        if self.first_shard_score is None or served == 0:
            return False
        # An epoch a full tempo after training scores arrived: weights set in between
        # carry a train_shard share, so that epoch pays the workload.
        if snap.last_step <= self.first_shard_score + snap.tempo:
            return False
        incentive = [snap.incentive.get(m.uid, 0.0) for m in miners]
        return all(
            (i == 0) if m.cheater else (i > 0) for m, i in zip(miners, incentive, strict=True)
        )


def _frames(net: Any, miners: list[Any], tempos: int, customer: Any, say: Console) -> Iterator[Any]:
    """Polls chain and validator once a second, yielding a snapshot each time, until
    ``tempos`` epochs ran after the first weights and the subnet has settled (or
    ``SETTLE_EXTRA_S`` more went by: the report then says what is missing)."""
    from wmnet.neurons.demo_display import epoch_line, read_state, snapshot

    state_path = net.workdir / "validator" / "state.json"
    settled, last_step, over_since = Settled(), None, None
    while True:
        net.check_alive()
        state, graph = read_state(state_path), net.metagraph()
        settled.update(state, graph.block)
        snap = snapshot(graph, state, settled.first_weights)
        if settled.first_weights is not None and snap.last_step != last_step:
            if last_step is not None:
                say.print(epoch_line(snap, miners, customer.stats))
            last_step = snap.last_step
        yield snap
        if snap.epochs >= tempos:
            if settled.done(snap, miners, customer.stats.served):
                return
            over_since = over_since or time.monotonic()
            if time.monotonic() - over_since > SETTLE_EXTRA_S:
                say.print("[yellow]the subnet did not settle; reporting what it did[/]")
                return
        time.sleep(1.0)


def _watch(net: Any, miners: list[Any], tempos: int, customer: Any, view: Console | None,
           say: Console, currency: str) -> None:  # fmt: skip
    """Runs the subnet for ``tempos`` epochs, redrawn live on a terminal ``view``; the
    last frame once where it cannot redraw; nothing but epoch lines without a view."""
    from rich.live import Live

    from wmnet.neurons.demo_display import render

    frames = _frames(net, miners, tempos, customer, say)
    if view is not None and view.is_terminal:
        with Live(console=view, refresh_per_second=2) as live:
            for snap in frames:
                live.update(render(snap, miners, tempos, customer.stats, currency))
        return
    snap = None
    for frame in frames:
        snap = frame
    if view is not None and snap is not None:
        view.print(render(snap, miners, tempos, customer.stats, currency))


def _run(out: Path, n: int, tempos: int, tao_price: str, json_out: bool) -> dict[str, Any]:
    from wmnet.harness.local_subnet import LocalSubnet
    from wmnet.harness.processes import ProcessGroup
    from wmnet.harness.setup import free_port
    from wmnet.ledger.db import open_ledger
    from wmnet.ledger.valuation import Valuation
    from wmnet.neurons import demo_report
    from wmnet.neurons.demo_customer import Customer, open_account
    from wmnet.neurons.demo_display import MinerRow

    say = _wide(err_console if json_out else console)
    currency = Valuation.from_config().currency
    db_url, store = f"sqlite:///{out / 'ledger.db'}", out / "store"
    plan = Plan.make(n, store)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # n + 2 processes share the cores
    with ProcessGroup(out / "logs", grace_s=5.0) as group:
        net = LocalSubnet(group, out)
        url = _step(say, "start the embedded localnet", lambda: net.start_chain(BLOCK_TIME_S))
        netuid = _step(
            say,
            f"create dev wallets; create and start subnet on {url} (commit-reveal off, "
            f"weights rate limit 0); register and stake a validator; register {n} miners",
            lambda: net.create_subnet(n),
        )
        api_key = _step(
            say,
            "open the demo ledger; price rollouts; add a customer with prepaid credit",
            lambda: open_account(db_url, currency),
        )
        _step(say, f"start {n} miners ({n - 1} honest, 1 cheater)",
              lambda: net.start_miners(plan.specs))  # fmt: skip
        uids = net.miner_uids()
        miners = [
            MinerRow(i, uid, net.keys.miners[i].hotkey.ss58_address, label, cheater)
            for i, (uid, label, cheater) in enumerate(
                zip(uids, plan.labels, plan.cheaters, strict=True)
            )
        ]
        gateway = _step(
            say,
            "start the validator (rollout probes, training-shard rounds, ledger, gateway)",
            lambda: _start_validator(net, db_url, store, free_port()),
        )
        customer = Customer(gateway, api_key)
        customer.start()
        say.print(f"  [green]✓[/] customer buying rollouts at {gateway}/v1/rollouts")
        try:
            _watch(net, miners, tempos, customer, None if json_out else say, say, currency)
        finally:
            customer.stop()
        graph = net.metagraph()
        incentive = {nn.uid: nn.incentive for nn in graph.neurons}
        sessions = open_ledger(db_url)
        epochs = _step(
            say,
            "ingest the chain's epochs into the ledger",
            lambda: demo_report.ingest_chain(sessions, url, netuid, tao_price, currency),
        )
    reports = demo_report.ledger_reports(sessions, currency)
    final = demo_report.summary(reports, miners, incentive)
    plots = demo_report.plot(reports, out)
    problems = demo_report.failures(final, customer.stats.served, customer.stats.retries_charged)
    if not json_out:
        demo_report.print_report(say, reports, final)
        say.print(f"charts: {', '.join(str(p) for p in plots)}")
        say.print(f"ledger: {db_url}   logs: {out / 'logs'}")
    return {
        **final,
        "ok": not problems,
        "failures": problems,
        "netuid": netuid,
        "block": graph.block,
        "tempos": tempos,
        "epochs_ingested": len(epochs),
        "customer": {
            "served": customer.stats.served,
            "retries_charged_once": customer.stats.retries,
            "refused_or_undelivered": customer.stats.failed,
            "spent": f"{customer.stats.spent_micro / 1e6:.6f}",
        },
        "tao_price": tao_price,
        "ledger": db_url,
        "plots": [str(p) for p in plots],
        "out": str(out),
    }


def demo(
    miners: int = typer.Option(3, min=2, max=16, help="Miners to run (the last one cheats)."),
    tempos: int = typer.Option(
        5, min=1, max=1000, help="Epochs to run after the validator's first weights."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the final report as JSON."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the ledger, logs and charts (default: a new temp dir)."
    ),
    tao_price: str = typer.Option(
        DEFAULT_TAO_PRICE, "--tao-price", help="Assumed currency per TAO, to value emissions."
    ),
) -> None:
    """Run a whole subnet on this machine: chain, miners, a validator, a paying customer,
    and the ledger's report per workload."""
    import bittensor as bt

    out = (out or Path(tempfile.mkdtemp(prefix="wmnet-demo-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    say = _wide(err_console if json_out else console)
    say.print(f"[bold]wmnet demo[/]: {miners} miners, {tempos} tempos; files in {out}")
    try:
        data = _run(out, miners, tempos, tao_price, json_out)
    except KeyboardInterrupt:
        fail("interrupted; every process the demo started is stopped", code=130)
    except (RuntimeError, OSError, bt.BittensorError) as error:  # a step or process failed
        fail(f"{error}\nlogs: {out / 'logs'}")
    if json_out:
        print_json(data)
    for problem in data["failures"]:
        err_console.print(f"[bold red]check failed:[/] {problem}")
    if data["failures"]:
        raise typer.Exit(1)
    say.print("[bold green]demo ok[/]: both workloads paid, the customer charged, the cheater at 0")
