"""Outbound connections that cannot reach the server's own network (SSRF).

A host name is resolved here, every address it resolves to is checked, and the
connection goes to a checked address: the name is never resolved a second time, so a
DNS answer cannot change between the check and the connect (rebinding). Refused:
private, loopback, link-local, shared (CGNAT), multicast, reserved and unspecified
addresses, and IPv6 forms that embed one (IPv4-mapped, 6to4, NAT64), unless the
operator lists their network in ``allowed_networks``.

:class:`GuardedBackend` is an httpcore network backend, so the check sits below the
HTTP client: each connection, the ones a redirect opens included, goes through it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence

import anyio
import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(httpcore.ConnectError):
    """The host resolves to an address outside the allowed ones (nothing was sent)."""


class AddressPolicy:
    """Which addresses outbound connections may reach: public unicast ones, and those in
    the operator's ``allowed_networks``."""

    def __init__(self, allowed_networks: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)

    def _public(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address):
            embedded = address.ipv4_mapped or address.sixtofour
            if embedded is None and address in _NAT64:
                embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            if embedded is not None:
                return self._public(embedded)
        return address.is_global and not address.is_multicast

    def permits(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed) or self._public(address)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an address literal: itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address (one refused address refuses the host), then
    connects to the first checked address that answers."""

    def __init__(self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        refused = [a for a in addresses if not self.policy.permits(a)]
        if refused or not addresses:
            raise AddressRefused(f"{host} resolves to a refused address ({', '.join(map(str, refused))})")
        return await self._connect_any(addresses, port, timeout, local_address, socket_options)

    async def _connect_any(
        self,
        addresses: Sequence[IPAddress],
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        error = httpcore.ConnectError("no address to connect to")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are never reached")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
