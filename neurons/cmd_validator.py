"""`wmnet validator run`: ask miners for rollouts (and, with --store, training shards),
bind, audit a sample, score, set weights; `wmnet validator audit-worker`: run a
validator's audits from its Redis queue."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from pathlib import Path
from typing import Any

import typer

from wmnet.neurons.options import WALLET_PATH, network_option
from wmnet.neurons.output import fail, usage_error
from wmnet.protocol.spec import MAX_INNER_STEPS

app = typer.Typer(no_args_is_help=True)
log = logging.getLogger("wmnet.validator")


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _shares(text: str) -> dict[str, float]:
    """``rollout=0.5,train_shard=0.5`` -> a dict (workloads left out get share 0)."""
    from wmnet.protocol.spec import WORKLOADS

    out: dict[str, float] = {}
    for part in _split(text):
        name, _, value = part.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if name.strip() not in WORKLOADS or not share >= 0:
            raise typer.BadParameter(
                f"give workload=share pairs with workloads in {WORKLOADS} and shares >= 0",
                param_hint="--shares",
            )
        out[name.strip()] = share
    if not any(out.values()):
        raise typer.BadParameter("at least one share must be positive", param_hint="--shares")
    return out


@app.command("run")
def run(
    wallet: str = typer.Option(..., "--wallet", help="Wallet name, or a dev URI like //Bob."),
    hotkey: str = typer.Option("default", "--hotkey", help="Hotkey name."),
    wallet_path: str | None = WALLET_PATH,
    netuid: int = typer.Option(..., "--netuid", min=1, max=65535),
    network: str = network_option(),
    state: Path = typer.Option(
        Path("~/.wmnet/validator/state.json"), "--state", help="Scores and last weights."
    ),
    usage: Path = typer.Option(
        Path("~/.wmnet/validator/usage.jsonl"), "--usage", help="Usage events (JSON lines)."
    ),
    db: str = typer.Option(
        "",
        "--db",
        envvar="WMNET_DB_URL",
        help="Also record usage, attribution and capacity in this ledger database.",
    ),
    sample_size: int = typer.Option(16, "--sample-size", min=1, help="Miners asked per round."),
    round_interval: float = typer.Option(1.0, "--round-interval", min=0.0, help="Seconds."),
    precisions: str = typer.Option("fp32,bf16,int8", "--precisions", help="Precisions to ask for."),
    horizons: str = typer.Option("16,32", "--horizons", help="Predicted steps per task."),
    deadline: float = typer.Option(
        30.0, "--deadline", min=0.05, max=600.0, help="Seconds a miner has per rollout, all in."
    ),
    capacity_refresh: int = typer.Option(
        20, "--capacity-refresh", min=1, help="Blocks between capacity reports of a miner."
    ),
    capacity_timeout: float = typer.Option(
        5.0, "--capacity-timeout", min=0.1, max=60.0, help="Seconds a capacity report may take."
    ),
    model_id: str = typer.Option("", "--model-id", help="Reference model (default: shipped)."),
    gateway_port: int = typer.Option(
        0, "--gateway-port", min=0, max=65535, help="Serve the customer gateway (needs --db)."
    ),
    gateway_host: str = typer.Option("127.0.0.1", "--gateway-host", help="Gateway bind address."),
    store: str = typer.Option(
        "",
        "--store",
        envvar="WMNET_STORE",
        help="Object store shared with miners (a directory, or s3://bucket/prefix"
        "?endpoint_url=…): run training-shard rounds too.",
    ),
    shard_interval: int = typer.Option(
        20, "--shard-interval", min=1, help="Blocks between training-shard rounds."
    ),
    inner_steps: int = typer.Option(
        10, "--inner-steps", min=1, max=MAX_INNER_STEPS, help="Inner steps H a shard task asks for."
    ),
    shard_deadline: float = typer.Option(
        120.0, "--shard-deadline", min=1.0, max=3600.0, help="Seconds a miner has per shard."
    ),
    outer_lr: float = typer.Option(1.0, "--outer-lr", min=0.0, help="Outer step size."),
    outer_momentum: float = typer.Option(
        0.0,
        "--outer-momentum",
        min=0.0,
        max=0.99,
        help="Outer Nesterov momentum (0: SparseLoCo; DiLoCo: 0.9 with --outer-lr 0.7).",
    ),
    shares: str = typer.Option(
        "rollout=0.5,train_shard=0.5",
        "--shares",
        help="Weight share per workload (a workload at 0 is not asked).",
    ),
    audit_rate: float = typer.Option(
        0.05, "--audit-rate", min=0.0, max=1.0, help="Share of probe answers fully checked."
    ),
    audit_budget: float = typer.Option(
        0.0,
        "--audit-budget",
        min=0.0,
        help="Device-seconds of full checks per tempo; the rate follows it (0: --audit-rate).",
    ),
    audit_floor: int = typer.Option(
        1, "--audit-floor", min=0, help="Full checks per miner per tempo, at least."
    ),
    organic_audit_rate: float = typer.Option(
        0.2, "--organic-audit-rate", min=0.0, max=1.0, help="Share of customer orders audited."
    ),
    penalty_tempos: int = typer.Option(
        20, "--penalty-tempos", min=1, help="Tempos at weight 0 after a failed audit (doubles)."
    ),
    audit_redis: str = typer.Option(
        "",
        "--audit-redis",
        envvar="WMNET_AUDIT_REDIS",
        help="redis://… : run audits on `wmnet validator audit-worker` processes.",
    ),
    audit_queue: str = typer.Option("wmnet:audits", "--audit-queue", help="Audit queue name."),
    rounds: int = typer.Option(0, "--rounds", min=0, help="Stop after N rounds (0: run on)."),
    seed: int = typer.Option(-1, "--seed", help="Seed task draws (tests); -1: random."),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Run a validator until Ctrl-C or SIGTERM.

    It first checks its hotkey on the chain (registered; permit and stake reported),
    binds the gateway's port, and prints one start-up summary."""
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        usage_error("--log-level must be DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    from wmnet.harness.wallets import WalletError, open_wallet
    from wmnet.protocol.spec import MAX_HORIZON, PRECISIONS
    from wmnet.validator.audits import AuditPolicy
    from wmnet.validator.config import ValidatorConfig
    from wmnet.validator.loop import ValidatorLoop
    from wmnet.validator.tasks import TaskPolicy
    from wmnet.validator.usage import JsonlUsageSink, TeeSink
    from wmnet.worldmodel.checkpoint import ModelRegistry, default_model_id
    from wmnet.worldmodel.determinism import set_deterministic

    wanted = _split(precisions)
    if not wanted or any(p not in PRECISIONS for p in wanted):
        raise typer.BadParameter(
            f"precisions must be among {PRECISIONS}", param_hint="--precisions"
        )
    try:
        steps = tuple(int(h) for h in _split(horizons))
    except ValueError:
        raise typer.BadParameter("comma-separated integers", param_hint="--horizons") from None
    if not steps or any(not 1 <= h <= MAX_HORIZON for h in steps):
        raise typer.BadParameter(f"each horizon in 1..{MAX_HORIZON}", param_hint="--horizons")
    if gateway_port and not db:
        raise typer.BadParameter(
            "the gateway bills customers from the ledger: give --db (or WMNET_DB_URL)",
            param_hint="--gateway-port",
        )
    split = _shares(shares)
    try:
        audit = AuditPolicy(
            rate=audit_rate,
            organic_rate=organic_audit_rate,
            floor=audit_floor,
            budget_s=audit_budget or None,
            penalty_tempos=penalty_tempos,
            max_penalty_tempos=8 * penalty_tempos,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if audit_redis and not audit_redis.startswith(("redis://", "rediss://", "unix://")):
        raise typer.BadParameter("a redis://host:port/db URL", param_hint="--audit-redis")
    try:
        keys = open_wallet(wallet, hotkey, wallet_path, network=network)
        keys.hotkey  # noqa: B018 - read the hotkey file now, not mid-run
    except WalletError as error:
        usage_error(str(error))
    except Exception as error:  # an unreadable or corrupt key file
        usage_error(f"cannot read wallet {wallet!r} hotkey {hotkey!r}: {error}")
    listener = _gateway_socket(gateway_host, gateway_port) if gateway_port else None
    _check_state(state.expanduser(), netuid)
    seat = _check_seat(network, netuid, keys.hotkey.ss58_address, wallet, hotkey)
    shard_config = None
    if store:
        from wmnet.protocol.shard import InnerHyper
        from wmnet.validator.shards import ShardConfig

        base = ShardConfig(store=store)
        hyper = InnerHyper(**{**base.hyper.model_dump(), "inner_steps": inner_steps})
        shard_config = ShardConfig(
            store=store,
            interval_blocks=shard_interval,
            hyper=hyper,
            deadline_ms=round(shard_deadline * 1000),
            outer_lr=outer_lr,
            outer_momentum=outer_momentum,
        )
    mid = model_id or default_model_id()
    set_deterministic(True)  # the reference run: same numbers on every validator
    model = ModelRegistry().load(mid).eval()
    config = ValidatorConfig(
        netuid=netuid,
        network=network,
        sample_size=sample_size,
        round_interval_s=round_interval,
        precisions=wanted,
        policy=TaskPolicy(
            horizons=steps, n_actions=model.cfg.n_actions, deadline_ms=round(deadline * 1000)
        ),
        capacity_refresh_blocks=capacity_refresh,
        capacity_timeout_s=capacity_timeout,
        state_path=state,
        usage_path=usage,
        seed=None if seed < 0 else seed,
        shares=split,
        shards=shard_config,
        audit=audit,
        audit_redis=audit_redis or None,
        audit_queue=audit_queue,
    )
    sink = JsonlUsageSink(usage.expanduser())
    sessions = None
    if db:
        from wmnet.ledger.usage import LedgerUsageSink

        sessions = _open_ledger(db)
        sink = TeeSink(sink, LedgerUsageSink(sessions))
    queue = None
    if audit_redis:
        from wmnet.validator.audit_queue import ArqAuditQueue

        queue = ArqAuditQueue(audit_redis, audit_queue)
    resumed = state.expanduser().exists()
    try:
        loop = ValidatorLoop(config, keys, model, mid, sink, audit_queue=queue)
    except ValueError as error:  # a state file of another subnet, or not one at all
        usage_error(f"{error}: give another --state")
    gateway = None
    if listener is not None and sessions is not None:
        import uvicorn

        from wmnet.ledger.billing import Billing
        from wmnet.validator.gateway import GatewayDeps, create_gateway_app

        deps = GatewayDeps(
            billing=Billing(sessions),
            wallet=keys,
            model=model,
            model_id=mid,
            usage=loop.sink,  # logged and counted on failure, like the loop's own
            netuid=netuid,
            candidates=loop.best_miners,
            auditor=loop.auditor,
            on_delivery=loop.tempo.add,
            compute=loop.compute,  # frames decoded on the validator's model thread
        )
        gateway = uvicorn.Server(
            uvicorn.Config(
                create_gateway_app(deps),
                host=gateway_host,
                port=gateway_port,
                log_level="warning",
            )
        )
    from wmnet.validator.startup import summary

    gateway_url = f"http://{gateway_host}:{gateway_port}" if gateway is not None else None
    log.info(
        summary(
            seat,
            network=network,
            netuid=netuid,
            state_path=state.expanduser(),
            resumed=loop.state if resumed else None,
            usage_path=usage.expanduser(),
            db=db,
            gateway=gateway_url,
            store=store or None,
        )
    )

    async def main() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        if gateway is None:
            await loop.run(stop, max_rounds=rounds or None)
            return
        gateway.install_signal_handlers = lambda: None  # ours stop both
        serving = asyncio.create_task(gateway.serve(sockets=[listener]))
        try:
            await loop.run(stop, max_rounds=rounds or None)
        finally:
            gateway.should_exit = True
            await serving

    asyncio.run(main())


def _check_seat(network: str, netuid: int, hotkey_ss58: str, wallet: str, hotkey: str) -> Any:
    """The validator's neuron (uid, permit, stake) with warnings logged; exits when the
    hotkey is not registered. A chain that does not answer yet is not fatal: the loop
    waits for it, as it does for a chain that restarts."""
    from bittensor.result import BittensorError

    from wmnet.localnet.network import client_for, is_local_network
    from wmnet.validator.startup import NotRegistered, read_seat

    async def read() -> Any:
        async with client_for(network) as client:
            return await read_seat(client, netuid, hotkey_ss58)

    where = "" if network == "localnet" else f" --network {network}"
    try:
        seat = asyncio.run(read())
    except NotRegistered as error:
        usage_error(
            f"{error} on {network}: register it (`wmnet subnet register --netuid {netuid} "
            f"--wallet {wallet} --hotkey {hotkey}{where}`) and stake for a validator permit "
            f"(`wmnet subnet stake --netuid {netuid} --wallet {wallet} --hotkey {hotkey} "
            f"--amount TAO{where}`)"
        )
    except (BittensorError, ConnectionError, OSError) as error:
        log.warning("registration not checked: the chain does not answer (%s)", error)
        return None
    for warning in seat.warnings(is_local_network(network)):
        log.warning("%s", warning)
    return seat


def _check_state(path: Path, netuid: int) -> None:
    """A state file of another subnet, or not one at all, stops the start (one line)."""
    from wmnet.validator.state import load_state

    try:
        load_state(path, netuid, alpha=0.2)  # the smoothing is not what is checked here
    except ValueError as error:
        usage_error(f"{error}: give another --state")


def _gateway_socket(host: str, port: int) -> socket.socket:
    """The gateway's socket, bound before anything else starts (a busy port is one line)."""
    from wmnet.miner.serve import StartupError, bind_listener

    try:
        return bind_listener(host, port, option="--gateway-port")
    except StartupError as error:
        usage_error(str(error))


def _open_ledger(db: str) -> Any:
    """The ledger's session factory, or one line saying why it cannot be opened."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from wmnet.ledger.db import open_ledger
    from wmnet.validator.startup import redact_db_url

    try:
        return open_ledger(db)
    except ArgumentError:
        usage_error(f"--db {redact_db_url(db)!r} is not a database URL")
    except ModuleNotFoundError as error:
        usage_error(
            f"--db needs the {error.name} driver: install it (`pip install 'wmnet[postgres]'` "
            "for postgresql+psycopg://)"
        )
    except OperationalError as error:
        reason = str(error.orig or error).splitlines()[0]
        usage_error(f"cannot open the ledger at {redact_db_url(db)}: {reason}")


@app.command("audit-worker")
def audit_worker(
    redis: str = typer.Option(
        "redis://127.0.0.1:6379/0", "--redis", envvar="WMNET_AUDIT_REDIS", help="Redis URL."
    ),
    queue: str = typer.Option("wmnet:audits", "--queue", help="The validator's --audit-queue."),
    model_id: str = typer.Option("", "--model-id", help="Reference model (default: shipped)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    name: str = typer.Option("", "--name", help="Worker label in audit records."),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Run a validator's audits (full teacher-forced checks) from its Redis queue."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from wmnet.validator.audit_queue import make_worker
    from wmnet.worldmodel.checkpoint import ModelRegistry, default_model_id
    from wmnet.worldmodel.determinism import set_deterministic

    if device not in ("cpu", "cuda"):
        raise typer.BadParameter("--device must be cpu or cuda", param_hint="--device")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise typer.BadParameter("no CUDA device here", param_hint="--device")
    if not redis.startswith(("redis://", "rediss://", "unix://")):
        raise typer.BadParameter("a redis://host:port/db URL", param_hint="--redis")
    set_deterministic(True)  # the reference run: the same numbers as the validator's
    model = ModelRegistry().load(model_id or default_model_id()).to(device).eval()
    worker = make_worker(model, redis, queue, name)
    where = redis.split("@")[-1]  # never the password
    logging.getLogger(__name__).info("audit worker on %s, queue %s", where, queue)
    from redis.exceptions import RedisError

    try:
        worker.run()
    except (ConnectionError, OSError, RedisError) as exc:
        fail(f"cannot reach Redis at {where}: {exc}")
