"""Per-client rate limits (the ``limits`` library): in memory by default, in Redis when
``REDIS_URL`` is set so every gateway replica counts against the same windows."""

from __future__ import annotations

import math
import time
from ipaddress import IPv4Network, IPv6Network, ip_address

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.requests import HTTPConnection

from claudecloud_common.logging import get_logger

from ..settings import GatewaySettings
from .errors import TooManyRequests

log = get_logger(__name__)

Networks = tuple[IPv4Network | IPv6Network, ...]


class RateLimits:
    """Two tiers: sign-in requests, and the authenticated API."""

    def __init__(self, storage: Storage, *, login: str, api: str) -> None:
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self.login: RateLimitItem = parse(login)
        self.api: RateLimitItem = parse(api)

    async def hit(self, item: RateLimitItem, tier: str, client: str) -> None:
        """Count one request; :class:`TooManyRequests` (with ``Retry-After``) when over."""
        try:
            allowed = await self.strategy.hit(item, tier, client)
            if allowed:
                return
            stats = await self.strategy.get_window_stats(item, tier, client)
        except Exception as exc:
            # A limiter that cannot reach its store must not take the API down with it.
            log.warning("ratelimit.unavailable", error=f"{type(exc).__name__}: {exc}")
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"too many requests: at most {item.amount} per {item.get_expiry()} seconds",
            retry_after=retry_after,
        )


def make_rate_limits(settings: GatewaySettings) -> RateLimits:
    storage: Storage
    if settings.redis_url:
        uri = settings.redis_url
        storage = RedisStorage(
            uri if uri.startswith("async+") else f"async+{uri}", implementation="redispy"
        )
    else:
        storage = MemoryStorage()
    return RateLimits(storage, login=settings.rate_limit_login, api=settings.rate_limit_api)


def client_address(connection: HTTPConnection, trusted: Networks) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy, in which case the
    nearest ``X-Forwarded-For`` hop that is not itself a trusted proxy."""
    peer = connection.client.host if connection.client else "unknown"
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [
        h.strip() for h in connection.headers.get("x-forwarded-for", "").split(",") if h.strip()
    ]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _within(address: str, networks: Networks) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
