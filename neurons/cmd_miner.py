"""`wmnet miner run`: serve rollouts on a subnet (see docs/miner.md)."""

from __future__ import annotations

import asyncio
import logging

import typer

from wmnet.miner.config import DEFAULT_MIN_STAKE
from wmnet.neurons.options import WALLET_PATH, YES, network_option
from wmnet.neurons.output import fail, usage_error

app = typer.Typer(no_args_is_help=True)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@app.command("run")
def run(
    wallet: str = typer.Option(
        ..., "--wallet", help="Wallet name, or a dev URI such as //Charlie on a localnet."
    ),
    hotkey: str = typer.Option("default", "--hotkey", help="Hotkey name within the wallet."),
    wallet_path: str | None = WALLET_PATH,
    netuid: int = typer.Option(..., "--netuid", min=1, max=65535, help="Subnet to serve."),
    network: str = network_option(),
    host: str | None = typer.Option(
        None, "--host", help="Bind address (default 127.0.0.1; 0.0.0.0 needs --external-ip)."
    ),
    port: int = typer.Option(
        8091, "--port", min=1, max=65535, envvar="WMNET_MINER_PORT", help="Port to serve on."
    ),
    external_ip: str | None = typer.Option(
        None, "--external-ip", help="IP published on chain (default: the bind address)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    precisions: str = typer.Option(
        "fp32", "--precisions", help="Comma-separated subset of fp32,bf16,int8 to serve."
    ),
    models: str = typer.Option(
        "", "--models", help="Comma-separated model ids (default: the shipped checkpoint)."
    ),
    model_dirs: str = typer.Option(
        "", "--model-dirs", help="Comma-separated directories searched for checkpoints."
    ),
    attention: str = typer.Option(
        "sdpa", "--attention", help="Attention backend: sdpa (default), auto or flex."
    ),
    max_batch: int = typer.Option(8, "--max-batch", min=1, help="Tasks per device batch."),
    queue_limit: int = typer.Option(64, "--queue-limit", min=1, help="Tasks waiting at most."),
    batch_wait_ms: float = typer.Option(
        2.0, "--batch-wait-ms", min=0, help="How long a lone task waits for batch company."
    ),
    min_stake: float = typer.Option(
        DEFAULT_MIN_STAKE,
        "--min-stake",
        min=0,
        help="Least stake (1e9 rao units of the metagraph's total stake) a validator needs.",
    ),
    rate: float = typer.Option(
        20.0, "--rate", help="Requests/s refilled for a validator holding the mean stake."
    ),
    burst: float = typer.Option(40.0, "--burst", help="Token bucket size per validator."),
    redis_url: str | None = typer.Option(
        None,
        "--redis-url",
        envvar="WMNET_REDIS_URL",
        help="Shared nonce store, needed for --workers > 1 (or env WMNET_REDIS_URL).",
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="uvicorn worker processes."),
    register: bool = typer.Option(
        False,
        "--register",
        help="Burn to register the hotkey if it is not registered (shows the cost; asks "
        "on a public network unless --yes).",
    ),
    yes: bool = YES,
    take_over: bool = typer.Option(
        False,
        "--take-over",
        help="Point the hotkey's axon here even if a live miner serves the published one.",
    ),
    record_dir: str | None = typer.Option(
        None, "--record-dir", help="Write every served result as JSON here."
    ),
    store: str | None = typer.Option(
        None,
        "--store",
        envvar="WMNET_STORE",
        help="Object store shared with validators (a directory, or s3://bucket/prefix"
        "?endpoint_url=…): serve training shards too.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
    cheat: str | None = typer.Option(
        None,
        "--cheat",
        hidden=True,
        help="ADVERSARIAL TEST BEHAVIOUR (tests/demo only): random, fake10, replay, lazy, copy.",
    ),
    replay_dir: str | None = typer.Option(
        None, "--replay-dir", hidden=True, help="ADVERSARIAL: results to replay (--cheat replay)."
    ),
) -> None:
    """Serve rollouts: bind the port, load the models, check registration, publish the
    axon, serve."""
    from wmnet.harness.wallets import WalletError, open_wallet
    from wmnet.miner.config import MinerConfig
    from wmnet.miner.serve import (
        StartupError,
        bind_listener,
        check_redis,
        configure_logging,
        prepare_chain,
        publish_ip,
        serve,
    )
    from wmnet.neurons.spend import approver

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        usage_error("--log-level must be debug, info, warning or error")
    configure_logging(log_level)
    log = logging.getLogger("wmnet.miner")
    bind = host or "127.0.0.1"
    try:
        w = open_wallet(wallet, hotkey, wallet_path, network=network)
        hotkey_ss58 = w.hotkey.ss58_address
    except WalletError as error:
        usage_error(str(error))
    except Exception as error:  # an unreadable or corrupt key file
        usage_error(f"cannot read wallet {wallet!r} hotkey {hotkey!r}: {error}")
    try:
        config = MinerConfig(
            hotkey_ss58=hotkey_ss58,
            netuid=netuid,
            wallet=wallet,
            wallet_hotkey=hotkey,
            wallet_path=wallet_path,
            network=network,
            host=bind,
            port=port,
            device=device,
            precisions=_csv(precisions),
            model_ids=_csv(models),
            model_dirs=_csv(model_dirs),
            attention=attention,
            store=store,
            max_batch=max_batch,
            queue_limit=queue_limit,
            batch_wait_ms=batch_wait_ms,
            min_stake=min_stake,
            rate=rate,
            burst=burst,
            redis_url=redis_url,
            workers=workers,
            record_dir=record_dir,
            replay_dir=replay_dir,
            cheat=cheat,  # type: ignore[arg-type]  # checked by MinerConfig
        )
        ip = publish_ip(bind, external_ip)
        check_redis(config)
        sock = bind_listener(bind, port)
    except (ValueError, StartupError) as error:
        usage_error(str(error))
    if cheat:
        log.warning(
            "ADVERSARIAL TEST BEHAVIOUR ENABLED: --cheat %s (never on a real subnet)", cheat
        )
    try:
        from wmnet.miner.engine import RolloutEngine

        engine = RolloutEngine.load(
            config.model_ids, config.model_dirs, config.precisions, config.device, config.attention
        )
    except ValueError as error:  # CheckpointError is a ValueError; so is a missing CUDA
        usage_error(f"cannot load the models: {error}")
    from bittensor.result import BittensorError

    chain = prepare_chain(
        network,
        w,
        netuid,
        ip,
        port,
        register=register,
        take_over=take_over,
        approve=approver(yes),
    )
    try:
        ready = asyncio.run(chain)
    except StartupError as error:
        usage_error(str(error))
    except (BittensorError, ConnectionError, OSError) as error:
        fail(f"cannot reach the chain on {network}: {error}")
    log.info(
        "uid %d on netuid %d, axon %s%s",
        ready.uid,
        netuid,
        ready.axon,
        " (published now)" if ready.published else "",
    )
    # The parent's engine serves a single process; workers each load their own.
    serve(config, engine=engine if workers == 1 else None, log_level=log_level.lower(), sock=sock)
