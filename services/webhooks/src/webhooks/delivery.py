"""Sending deliveries: claim what is due, send each (signed, pinned to its checked address, no
redirects, capped in time and size), record how it went, schedule the next try with backoff, and
after the retry window give up and disable the endpoint (announced through the outbox: the
gateway mails its owner).

Three transactions around the calls that cannot be rolled back, as the provisioner's commands:
claim (each delivery leased a little ahead, so another replica leaves it alone and a replica that
dies frees it when the lease ends), send (no transaction open), record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import httpx
from pydantic import SecretStr

from claudecloud_common.background import BackgroundTask
from claudecloud_common.contracts.audit import Actor, ActorKind, AuditKind, AuditRecorded
from claudecloud_common.contracts.base import utcnow
from claudecloud_common.contracts.webhooks import (
    SIGNATURE_HEADER,
    DeliveryStatus,
    EndpointDisabled,
    EndpointStatus,
)
from claudecloud_common.db import AsyncSession, Database
from claudecloud_common.logging import describe_error, get_logger
from claudecloud_common.outbox import add_to_outbox

from .addresses import without_query
from .errors import AddressRefused, SecretUnreadable
from .metrics import DISABLED, TRIES
from .models import Delivery, Endpoint
from .repository import DeliveryRepository, EndpointRepository
from .sealing import Sealer
from .settings import WebhooksSettings
from .signing import signature

__all__ = ["Deliverer", "Result"]

log = get_logger(__name__)

LEASE_MARGIN_SECONDS = 30.0
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Result:
    """How one try went."""

    status_code: int | None
    error: str | None
    kind: str
    """For the metric: ``ok``, ``http_error``, ``refused``, ``timeout``, ``unreachable``."""
    final: bool = False
    """Trying again cannot help (the endpoint was disabled or deleted): give up now."""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Claimed:
    delivery: Delivery
    url: str | None
    """None: the endpoint is gone or disabled."""
    secrets: list[SecretStr]


class Deliverer(BackgroundTask):
    """Sends due deliveries: at once when told (:meth:`wake`), and every ``poll_seconds`` for
    the retries that came due."""

    name = "webhook-deliveries"

    def __init__(
        self, db: Database, settings: WebhooksSettings, sealer: Sealer, client: httpx.AsyncClient
    ) -> None:
        super().__init__()
        self.db = db
        self.settings = settings
        self.sealer = sealer
        self.client = client
        self._woken = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.concurrency)

    def wake(self) -> None:
        """New deliveries were committed: look now rather than at the next poll."""
        self._woken.set()

    async def run(self) -> None:
        while True:
            self._woken.clear()
            try:
                claimed = await self.round()
            except Exception as exc:  # the database is down: the next poll tries again
                log.warning("webhooks.round_failed", error=describe_error(exc))
                claimed = 0
            if claimed == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self.settings.poll_seconds)

    async def round(self) -> int:
        """Claim what is due and send it all; how many were claimed."""
        claimed = await self._claim()
        await asyncio.gather(*(self._send_and_record(c) for c in claimed))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.timeout_seconds + LEASE_MARGIN_SECONDS)
        async with self.db.transaction() as session:
            due = await DeliveryRepository(session).claim(
                now, lease, limit=self.settings.concurrency * 2
            )
            endpoints = EndpointRepository(session)
            return [self._claimed(d, await endpoints.get(d.endpoint_id), now) for d in due]

    def _claimed(self, delivery: Delivery, endpoint: Endpoint | None, now: datetime) -> Claimed:
        if endpoint is None or endpoint.status != EndpointStatus.ACTIVE.value:
            return Claimed(delivery, None, [])
        try:
            keys = [self.sealer.open(endpoint.id, endpoint.secret)]
            expires = endpoint.previous_secret_expires_at
            if endpoint.previous_secret is not None and expires is not None and expires > now:
                keys.append(self.sealer.open(endpoint.id, endpoint.previous_secret))
        except SecretUnreadable:
            log.error("webhooks.secret_unreadable", endpoint_id=str(endpoint.id))
            return Claimed(delivery, endpoint.url, [])
        return Claimed(delivery, endpoint.url, keys)

    async def _send_and_record(self, claimed: Claimed) -> None:
        async with self._limit:
            result = await self.send(claimed)
        TRIES.labels(result.kind).inc()
        try:
            async with self.db.transaction() as session:
                await self._record(session, claimed.delivery.id, result)
        except Exception as exc:  # the lease ends and the delivery is tried again
            log.warning("webhooks.record_failed", error=describe_error(exc))

    async def send(self, claimed: Claimed) -> Result:
        """One try of ``claimed``'s delivery."""
        delivery = claimed.delivery
        if claimed.url is None:
            return Result(None, "the endpoint was disabled or deleted", "refused", final=True)
        if not claimed.secrets:
            return Result(None, "the endpoint's secret cannot be read: rotate it", "refused")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(claimed.secrets, int(time.time()), delivery.body),
            "ClaudeCloud-Event-Id": str(delivery.event_id),
            "ClaudeCloud-Event-Type": delivery.event_type,
            "ClaudeCloud-Delivery-Attempt": str(delivery.attempts + 1),
        }
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                return await self._post(claimed.url, delivery.body, headers)
        except AddressRefused as exc:
            return Result(None, exc.detail, "refused")
        except TimeoutError:
            return Result(None, f"no answer within {self.settings.timeout_seconds:g}s", "timeout")
        except httpx.HTTPError as exc:
            return Result(
                None, f"could not reach the endpoint ({type(exc).__name__})", "unreachable"
            )

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Result:
        async with self.client.stream("POST", url, content=body, headers=headers) as response:
            excerpt = await _excerpt(response, self.settings.max_response_bytes)
        code = response.status_code
        if 200 <= code < 300:
            return Result(code, None, "ok")
        why = f"the endpoint answered {code}"
        if 300 <= code < 400:
            why += " (a redirect: redirects are not followed)"
        elif excerpt:
            why += f": {excerpt}"
        return Result(code, why[:500], "http_error")

    async def _record(self, session: AsyncSession, delivery_id: UUID, result: Result) -> None:
        delivery = await DeliveryRepository(session).locked(delivery_id)
        if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
            return  # deleted with its endpoint, or given up meanwhile
        now = utcnow()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if result.ok:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED.value, now
            delivery.next_attempt_at = None
        elif result.final:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED.value, None
        elif now >= delivery.give_up_at:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED.value, None
            await self._disable(session, delivery, result)
        else:
            delivery.next_attempt_at = min(
                now + self.backoff(delivery.attempts), delivery.give_up_at
            )
        session.add(delivery)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed try."""
        waits = self.settings.retry_backoff_seconds or (60.0,)
        return timedelta(seconds=waits[min(attempts, len(waits)) - 1])

    async def _disable(self, session: AsyncSession, delivery: Delivery, result: Result) -> None:
        """The retry window closed on a failing delivery: the endpoint is turned off, its other
        deliveries given up, its owner told (through the outbox)."""
        endpoint = await EndpointRepository(session).owned(
            delivery.user_id, delivery.endpoint_id, lock=True
        )
        if endpoint is None or endpoint.status != EndpointStatus.ACTIVE.value:
            return
        hours = self.settings.retry_window_seconds / 3600
        reason = f"every try failed for {hours:g} h (last: {result.error})"[:500]
        endpoint.status, endpoint.disabled_reason = EndpointStatus.DISABLED.value, reason
        endpoint.disabled_at = endpoint.updated_at = utcnow()
        session.add(endpoint)
        await DeliveryRepository(session).give_up_pending(endpoint.id, "the endpoint was disabled")
        add_to_outbox(session, _disabled(endpoint, reason))
        add_to_outbox(session, _audited(endpoint, reason))
        DISABLED.inc()
        log.warning("webhooks.endpoint_disabled", endpoint_id=str(endpoint.id), reason=reason)


def _disabled(endpoint: Endpoint, reason: str) -> EndpointDisabled:
    return EndpointDisabled(
        endpoint_id=endpoint.id,
        user_id=endpoint.user_id,
        url=without_query(endpoint.url),
        reason=reason,
    )


def _audited(endpoint: Endpoint, reason: str) -> AuditRecorded:
    return AuditRecorded(
        user_id=endpoint.user_id,
        kind=AuditKind.WEBHOOK_DISABLED,
        actor=Actor(kind=ActorKind.SERVICE, id="webhooks"),
        detail={
            "endpoint_id": str(endpoint.id),
            "url": without_query(endpoint.url),
            "reason": reason,
        },
    )


async def _excerpt(response: httpx.Response, limit: int) -> str:
    """The first ``limit`` bytes of the answer (raw: nothing is decompressed), as one line."""
    taken = bytearray()
    async for chunk in response.aiter_raw():
        taken.extend(chunk[: limit - len(taken)])
        if len(taken) >= limit:
            break
    text = taken.decode("utf-8", errors="replace")
    return " ".join(text.split())[:EXCERPT_CHARS]
