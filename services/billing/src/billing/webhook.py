"""``POST /stripe/webhook``: Stripe's events into billing, on the worker's own HTTP app.

Answers as Stripe expects: 2xx once the event is stored (a duplicate too, an event type we do
not act on, and one we cannot use, which is parked), 400 for anything not signed by Stripe for
us within the tolerance (either way: too old or dated ahead) or not an event we can keep (not an
object, no id or type, an id longer than its column, ``created`` no time, ``data.object`` no
object), 405/413/415 for the wrong method, an oversized body or a body that is not JSON, and 503
only when the event could not be stored (the database; Stripe then delivers it again). Never a
500.
"""

from __future__ import annotations

import json
from typing import Any

from faststream.asgi.types import Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from claudecloud_common.logging import get_logger
from claudecloud_common.telemetry import get_tracer

from .events import StripeEvents
from .metrics import WEBHOOKS, WebhookOutcome
from .stripe_api import InvalidWebhook, StripeApi

log = get_logger(__name__)
TRACER = get_tracer(__name__)


class _Refused(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        outcome: WebhookOutcome = WebhookOutcome.REFUSED,
    ) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.outcome = status, error, detail, outcome


class StripeWebhook:
    """The ASGI endpoint: raw body, size limit, signature, then :class:`StripeEvents`."""

    def __init__(self, events: StripeEvents, api: StripeApi, *, max_body: int) -> None:
        self.events = events
        self.api = api
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        # The root of a paid create's trace: the events this delivery causes carry its context.
        with TRACER.start_as_current_span("billing.webhook", kind=SpanKind.SERVER) as span:
            try:
                status, body, outcome = await self._answer(scope, receive)
            except _Refused as refused:
                status, body = refused.status, {"error": refused.error, "detail": refused.detail}
                outcome = refused.outcome
            except Exception as exc:
                log.exception("billing.webhook_unavailable")
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, "could not store the event")
                status, outcome = 503, WebhookOutcome.ERROR
                body = {"error": "Unavailable", "detail": "could not store the event; retry later"}
            span.set_attributes(
                {"http.response.status_code": status, "billing.webhook.outcome": str(outcome)}
            )
            WEBHOOKS.labels(outcome).inc()
            await _send_json(send, status, body)

    async def _answer(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, dict[str, Any], WebhookOutcome]:
        if scope["method"] != "POST":
            raise _Refused(405, "MethodNotAllowed", "POST a Stripe event here")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise _Refused(415, "UnsupportedMediaType", "Stripe sends application/json")
        declared = headers.get("content-length", "0")
        if not declared.isdigit():
            raise _Refused(400, "BadRequest", "Content-Length is not a number")
        if int(declared) > self.max_body:
            raise _Refused(413, "PayloadTooLarge", f"the body is over {self.max_body} bytes")
        payload = await self._read(receive)
        try:
            event = self.api.verify(payload, headers.get("stripe-signature"))
        except InvalidWebhook as exc:
            log.warning("billing.webhook_refused", reason=str(exc))
            raise _Refused(400, "InvalidWebhook", str(exc), WebhookOutcome.BAD_SIGNATURE) from exc
        trace.get_current_span().set_attributes(
            {"stripe.event_id": event.id, "stripe.event_type": event.type}
        )
        outcome = await self.events.receive(event, payload)
        duplicate = outcome is WebhookOutcome.DUPLICATE
        return 200, {"received": True, "duplicate": duplicate}, outcome

    async def _read(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "Disconnected", "the body did not arrive")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _Refused(413, "PayloadTooLarge", f"the body is over {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
