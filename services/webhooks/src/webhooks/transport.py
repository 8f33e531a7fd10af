"""The HTTP client deliveries go through: each request resolved and checked here, then sent to
the checked address itself (the ``Host`` header and, under https, the TLS server name and
certificate check stay the URL's name), so a lookup between the check and the connection cannot
move a delivery onto a private address. Redirects are never followed; bodies and times are capped
by the caller (:mod:`.delivery`)."""

from __future__ import annotations

import httpx

from .addresses import AddressPolicy, port_of

__all__ = ["PinnedTransport", "make_client"]

USER_AGENT = "ClaudeCloud-Webhooks/1.0"


class PinnedTransport(httpx.AsyncBaseTransport):
    """Resolves and checks every request's host with ``policy``, then connects to the address
    it checked."""

    def __init__(
        self, policy: AddressPolicy, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.policy = policy
        self.inner = inner or httpx.AsyncHTTPTransport(retries=0, http2=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        address = await self.policy.pick(host, port_of(request.url))
        if address != host:
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=address)  # httpx brackets an IPv6 one
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_client(policy: AddressPolicy, timeout: float) -> httpx.AsyncClient:
    """The one client deliveries use: pinned addresses, no redirects, no proxy from the
    environment, no cookies kept between endpoints."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy),
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )
