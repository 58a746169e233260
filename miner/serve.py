"""Starting a miner: chain checks, the published endpoint, and uvicorn.

Start-up order, so nothing is announced that cannot be served:

1. load the models (a missing or corrupt checkpoint stops here);
2. on the chain (``client_for(network)``, the one seam): the subnet must exist and the
   hotkey be registered on it (``BurnedRegister`` only when ``--register`` is given);
3. publish the endpoint with ``ServeAxon`` when the chain's axon for this hotkey
   differs from ``ip:port`` (loopback binds publish 127.0.0.1; a wildcard bind needs
   ``--external-ip``, the address validators should dial);
4. serve: one uvicorn process, or ``--workers N`` processes sharing the port and a
   Redis nonce store (each worker builds its own app from ``WMNET_MINER_CONFIG``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wmnet.miner.config import CONFIG_ENV, MinerConfig

log = logging.getLogger("wmnet.miner")


LOG_LEVEL_ENV = "WMNET_MINER_LOG_LEVEL"


def configure_logging(level: str) -> None:
    """One log format for the parent and every worker; no per-request HTTP client noise."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every chain poll at INFO (one line per block read): keep warnings only.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


class StartupError(RuntimeError):
    """A reason the miner cannot start, worded for the operator."""


def redact_url(url: str) -> str:
    """``url`` without its password (log lines never carry secrets)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def publish_ip(host: str, external_ip: str | None) -> str:
    """The IP to publish on chain for a server bound to ``host``."""
    if external_ip:
        try:
            addr = ipaddress.ip_address(external_ip)
        except ValueError:
            raise StartupError(f"--external-ip {external_ip!r} is not an IP address") from None
        if addr.is_unspecified:
            raise StartupError("--external-ip must be an address validators can dial")
        return str(addr)
    if host == "localhost":
        return "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise StartupError(f"--host {host!r} is not an IP address; give --external-ip") from None
    if addr.is_unspecified:
        raise StartupError(
            f"--host {host} listens on every interface; pass --external-ip with the public "
            "address validators should dial (it is published on chain)"
        )
    return "127.0.0.1" if addr.is_loopback and addr.version == 4 else str(addr)


def axon_string(ip: str, port: int) -> str:
    """The metagraph's ``ip:port`` form (``[v6]:port`` for IPv6)."""
    return f"[{ip}]:{port}" if ipaddress.ip_address(ip).version == 6 else f"{ip}:{port}"


@dataclass(frozen=True)
class ChainReady:
    uid: int
    axon: str
    published: bool  # True when this start-up wrote a new axon


async def prepare_chain(
    network: str, wallet: Any, netuid: int, ip: str, port: int, *, register: bool = False
) -> ChainReady:
    """Check registration (or register) and publish the endpoint; StartupError otherwise."""
    import bittensor as bt

    from wmnet.localnet.network import client_for

    hotkey = wallet.hotkey.ss58_address
    async with client_for(network) as client:
        graph = await client.subnets.metagraph(netuid)
        if graph is None:
            raise StartupError(f"subnet {netuid} does not exist on {network}")
        neuron = graph.by_hotkey(hotkey)
        if neuron is None:
            if not register:
                raise StartupError(
                    f"hotkey {hotkey} is not registered on netuid {netuid}. Register it "
                    f"(`wmnet subnet register --netuid {netuid} --wallet W --hotkey H "
                    f"--network {network}`) or start with --register to burn for it now"
                )
            result = await client.execute(bt.BurnedRegister(netuid=netuid), wallet)
            if not result.success:
                raise StartupError(f"registering on netuid {netuid} failed: {result.message}")
            log.info("registered %s on netuid %d", hotkey, netuid)
            graph = await client.subnets.metagraph(netuid)
            neuron = graph.by_hotkey(hotkey) if graph is not None else None
            if neuron is None:
                raise StartupError("registration succeeded but the metagraph does not show it")
        want = axon_string(ip, port)
        if neuron.axon == want:
            return ChainReady(neuron.uid, want, published=False)
        result = await client.execute(bt.ServeAxon(netuid=netuid, ip=ip, port=port), wallet)
        if not result.success:
            raise StartupError(
                f"publishing the endpoint {want} failed: {result.message} (the chain limits "
                "how often an axon may change; wait or keep the published address)"
            )
        log.info("published axon %s for uid %d (was %s)", want, neuron.uid, neuron.axon)
        return ChainReady(neuron.uid, want, published=True)


def check_redis(config: MinerConfig) -> None:
    if not config.redis_url:
        return
    from wmnet.miner.nonces import RedisNonceStore

    store = RedisNonceStore.from_url(config.redis_url, config.redis_prefix)
    try:
        store.ping()
    except Exception as error:
        raise StartupError(
            f"cannot reach Redis at {redact_url(config.redis_url)}: {type(error).__name__}"
        ) from None
    finally:
        store.close()


def _exit_cleanly(signum: int, frame: Any) -> None:
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal with the
    # handler that was there before it; this one makes that a clean exit (status 0).
    raise SystemExit(0)


def serve(config: MinerConfig, engine: Any = None, log_level: str = "info") -> None:
    """Run the miner's HTTP server until SIGTERM/SIGINT."""
    import uvicorn

    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    common = {
        "host": config.host,
        "port": config.port,
        "log_level": log_level,
        "access_log": False,  # one line per request is a denial-of-disk on a busy miner
        "timeout_graceful_shutdown": 10,
    }
    if config.workers == 1:
        from wmnet.miner.app import create_app

        uvicorn.run(create_app(config, engine=engine), **common)
        return
    os.environ[CONFIG_ENV] = config.to_json()
    os.environ[LOG_LEVEL_ENV] = log_level
    uvicorn.run("wmnet.miner.serve:worker_app", factory=True, workers=config.workers, **common)


def worker_app() -> Any:
    """The app of one uvicorn worker process (``--workers N``)."""
    from wmnet.miner.app import create_app

    configure_logging(os.environ.get(LOG_LEVEL_ENV, "info"))
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start workers with `wmnet miner run`")
    return create_app(MinerConfig.from_json(text))
