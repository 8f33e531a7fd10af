"""Where a user's endpoint may point, checked at registration and again at every delivery.

A URL is resolved, every address it resolves to is checked, and the delivery connects to the
checked address itself (:mod:`.transport`), never to whatever a second lookup returns: a name that
resolved to a public address when it was registered may resolve to 127.0.0.1 or to the cloud's
metadata service (169.254.169.254) by the time it is used.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import httpx

from claudecloud_common.contracts.webhooks import MAX_URL_CHARS

from .errors import AddressRefused, InvalidEndpointUrl

__all__ = [
    "AddressPolicy",
    "Resolver",
    "check_url",
    "checked",
    "port_of",
    "system_resolver",
    "why_blocked",
    "without_query",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port)`` → the addresses it resolves to (as text)."""

IPAddress = IPv4Address | IPv6Address
_SHARED = ip_network("100.64.0.0/10")  # carrier-grade NAT: not global, not "private" to Python
_NAT64 = ip_network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer (``getaddrinfo``), every address once, in its order."""
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AddressRefused(f"{host} does not resolve ({exc.strerror})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def why_blocked(address: IPAddress) -> str | None:
    """Why a delivery may not go to ``address`` (None: it may)."""
    if isinstance(address, IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour or _nat64(address)
        if mapped is not None:
            return why_blocked(mapped)
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (cloud metadata lives there)"),
        (address.is_private, "a private address"),
        (address in _SHARED if isinstance(address, IPv4Address) else False, "a shared address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for blocked, reason in checks if blocked), None)


def _nat64(address: IPv6Address) -> IPv4Address | None:
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses deliveries may reach, and how names are resolved."""

    private_allowed: bool
    resolve: Resolver = system_resolver

    async def pick(self, host: str, port: int) -> str:
        """The address to connect to for ``host``: every address it resolves to is checked
        (one bad answer refuses the name), and the first is used."""
        try:
            literal: IPAddress | None = ip_address(host)
        except ValueError:
            literal = None
        found = [host] if literal is not None else await self.resolve(host, port)
        if not found:
            raise AddressRefused(f"{host} does not resolve")
        if not self.private_allowed:
            for text in found:
                reason = why_blocked(ip_address(text))
                if reason is not None:
                    shown = host if literal is not None else f"{host} resolves to {text},"
                    raise AddressRefused(f"{shown} {reason}: refused")
        return found[0]


def check_url(url: str, *, https_required: bool) -> httpx.URL:
    """``url`` parsed, or :class:`InvalidEndpointUrl` saying what is wrong with it (nothing is
    resolved here: :meth:`AddressPolicy.pick` does that)."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidEndpointUrl(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidEndpointUrl(f"not a URL: {exc}") from None
    allowed = ("https",) if https_required else ("https", "http")
    if parsed.scheme not in allowed:
        raise InvalidEndpointUrl(f"the URL must start with {' or '.join(allowed)}://")
    if not parsed.host:
        raise InvalidEndpointUrl("the URL names no host")
    if parsed.userinfo:
        raise InvalidEndpointUrl(
            "the URL carries a user or password: leave it out (each delivery is signed)"
        )
    if parsed.fragment:
        raise InvalidEndpointUrl("the URL has a fragment (#...): leave it out")
    return parsed


def without_query(url: str) -> str:
    """The URL as it may be shown in a record, an event or a mail: receivers often put a token
    in the query string, so it is left out."""
    try:
        return str(httpx.URL(url).copy_with(query=None, fragment=None))
    except httpx.InvalidURL:
        return "(an unreadable URL)"


def port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def checked(url: str, policy: AddressPolicy, *, https_required: bool) -> httpx.URL:
    """``url`` if it may be registered: well formed, and (where private addresses are refused)
    resolving only to public addresses now."""
    parsed = check_url(url, https_required=https_required)
    if not policy.private_allowed:
        await policy.pick(parsed.host, port_of(parsed))
    return parsed
