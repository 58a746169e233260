"""Starting a miner: chain checks, the published endpoint, and uvicorn.

Start-up order, so nothing is announced that cannot be served:

1. bind the listening socket (a busy port stops here, before the chain is touched);
2. load the models on the device (no CUDA, a missing or corrupt checkpoint stop here);
3. on the chain (``client_for(network)``, the one seam): the subnet must exist and the
   hotkey be registered on it (``BurnedRegister`` only when ``--register`` is given,
   after its cost was shown and approved);
4. publish the endpoint with ``ServeAxon`` when the chain's axon for this hotkey
   differs from ``ip:port`` (loopback binds publish 127.0.0.1; a wildcard bind needs
   ``--external-ip``, the address validators should dial) -- unless the published
   axon is a live miner of this hotkey (it answers ``/healthz`` with it): then the
   start is refused, and ``--take-over`` is how an operator moves a running miner;
5. serve on the socket bound in step 1: one uvicorn process, or ``--workers N``
   processes sharing it and a Redis nonce store (each worker builds its own app from
   ``WMNET_MINER_CONFIG``).

Re-pointing an axon is expensive on a real chain (``ServingRateLimit``: the old
address stays published for minutes), so every way a start can fail is tried before
step 4.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Callable
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


def bind_listener(host: str, port: int, *, option: str = "--port") -> socket.socket:
    """A listening socket bound now, before anything is announced: StartupError (naming
    ``option``, the flag that picks another port) when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise StartupError(
            f"cannot listen on {host} port {port}: {error.strerror or error} (another "
            f"server there?): stop it or choose another {option}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)  # --workers: uvicorn's worker processes accept on it
    return sock


def live_miner_hotkey(axon: str, timeout_s: float = 3.0) -> str | None:
    """The hotkey a miner at ``axon`` (``ip:port``) reports on ``/healthz``; None when
    nothing answers there as a wmnet miner."""
    import httpx

    from wmnet.protocol.spec import HEALTH_PATH

    try:
        reply = httpx.get(f"http://{axon}{HEALTH_PATH}", timeout=timeout_s)
        body = reply.json() if reply.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return None
    hotkey = body.get("hotkey") if isinstance(body, dict) else None
    return hotkey if isinstance(hotkey, str) else None


@dataclass(frozen=True)
class ChainReady:
    uid: int
    axon: str
    published: bool  # True when this start-up wrote a new axon


async def prepare_chain(
    network: str,
    wallet: Any,
    netuid: int,
    ip: str,
    port: int,
    *,
    register: bool = False,
    take_over: bool = False,
    approve: Callable[[Any], None] | None = None,
) -> ChainReady:
    """Check registration (or register) and publish the endpoint; StartupError otherwise.

    ``approve`` sees the quote (``wmnet.localnet.spending.Quote``) of a registration
    before it is signed, and raises to refuse it.
    """
    import asyncio

    import bittensor as bt

    from wmnet.localnet.network import client_for
    from wmnet.localnet.spending import quote

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
            intent = bt.BurnedRegister(netuid=netuid)
            if approve is not None:
                approve(await quote(client, intent, wallet, network))
            result = await client.execute(intent, wallet)
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
        if neuron.axon and not take_over:
            serving = await asyncio.to_thread(live_miner_hotkey, neuron.axon)
            if serving == hotkey:
                raise StartupError(
                    f"hotkey {hotkey} already has a live miner at {neuron.axon} (uid "
                    f"{neuron.uid}): stop it first, or pass --take-over to point the "
                    f"axon at {want} instead"
                )
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


def serve(
    config: MinerConfig,
    engine: Any = None,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Run the miner's HTTP server until SIGTERM/SIGINT, on ``sock`` when given (the
    socket ``bind_listener`` bound before the axon was published)."""
    import uvicorn

    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    sock = sock or bind_listener(config.host, config.port)
    common = {
        "host": config.host,
        "port": config.port,
        "log_level": log_level,
        "access_log": False,  # one line per request is a denial-of-disk on a busy miner
        "timeout_graceful_shutdown": 10,
    }
    if config.workers == 1:
        from wmnet.miner.app import create_app

        app = create_app(config, engine=engine)
        uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    os.environ[CONFIG_ENV] = config.to_json()
    os.environ[LOG_LEVEL_ENV] = log_level
    options = uvicorn.Config(
        "wmnet.miner.serve:worker_app", factory=True, workers=config.workers, **common
    )
    # What `uvicorn.run(workers=N)` does, on the socket bound before the axon went out.
    Multiprocess(options, target=uvicorn.Server(options).run, sockets=[sock]).run()


def worker_app() -> Any:
    """The app of one uvicorn worker process (``--workers N``)."""
    from wmnet.miner.app import create_app

    configure_logging(os.environ.get(LOG_LEVEL_ENV, "info"))
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start workers with `wmnet miner run`")
    return create_app(MinerConfig.from_json(text))
