"""Axon serving: serve_axon / serve_axon_tls, rate limited per neuron."""

from __future__ import annotations

import ipaddress

from wmnet.localnet.calls import CallContext, handler
from wmnet.localnet.errors import DispatchError
from wmnet.localnet.state import AxonInfo


@handler("SubtensorModule", "serve_axon", "serve_axon_tls")
def serve_axon(
    ctx: CallContext,
    netuid: int,
    version: int,
    ip: int,
    port: int,
    ip_type: int,
    protocol: int,
    placeholder1: int,
    placeholder2: int,
    certificate: bytes | None = None,
) -> None:
    hotkey = ctx.signed()
    subnet = ctx.subnet(netuid, missing="MechanismDoesNotExist")
    uid = subnet.uid_of(hotkey)
    if uid is None:
        raise DispatchError("HotKeyNotRegisteredInNetwork")
    if ip_type not in (4, 6):
        raise DispatchError("InvalidIpType")
    if not _valid_ip(ip, ip_type):
        raise DispatchError("InvalidIpAddress")
    if not 0 < port < 65_536:
        raise DispatchError("InvalidPort")
    neuron = subnet.neurons[uid]
    limit = subnet.hp("ServingRateLimit")
    if neuron.axon is not None and ctx.block - neuron.axon.block < limit:
        raise DispatchError("ServingRateLimitExceeded")
    neuron.axon = AxonInfo(
        block=ctx.block,
        version=version,
        ip=ip,
        port=port,
        ip_type=ip_type,
        protocol=protocol,
        placeholder1=placeholder1,
        placeholder2=placeholder2,
    )
    ctx.emit("SubtensorModule", "AxonServed", [subnet.netuid, hotkey])


def _valid_ip(ip: int, ip_type: int) -> bool:
    """subtensor refuses 0, broadcast and out-of-range addresses; loopback is
    fine on a local chain (that is where local miners listen)."""
    try:
        addr = ipaddress.IPv4Address(ip) if ip_type == 4 else ipaddress.IPv6Address(ip)
    except ValueError:
        return False
    return not addr.is_unspecified and not (ip_type == 4 and int(addr) == 0xFFFFFFFF)
