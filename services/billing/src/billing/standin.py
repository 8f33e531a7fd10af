"""A local Stripe for tests and ``make run``: localstripe plus what it lacks.

localstripe (PyPI) is a stateful fake Stripe API: customers, cards, plans, subscriptions,
invoices and failed payments, with webhooks signed the way Stripe signs them. It has no Checkout
Sessions, Billing Portal or Billing Meter events; this module adds those following Stripe's
documented shapes (``/v1/checkout/sessions``, ``/v1/billing_portal/sessions``,
``/v1/billing/meter_events``), answers a repeated ``Idempotency-Key`` with the first answer as
Stripe does, and serves two small pages a person can click through:

- the Checkout URL opens a page whose "Pay" button subscribes the customer (a test card on
  localstripe) and sends the signed ``checkout.session.completed`` to the webhook;
- the portal URL opens a page whose "Cancel" button cancels the subscription (localstripe sends
  ``customer.subscription.deleted``) and whose "Switch to ..." buttons change the plan (the
  stand-in sends ``customer.subscription.updated``).

Controls for tests under ``/_standin/``: resend an event (Stripe's retry), a renewal whose card is
declined (``invoice.payment_failed``, the subscription ``past_due``), the meter events received.

Run: ``python -m billing.standin --port 8420 --webhook-url URL --webhook-secret whsec_...``.
Never for production: it takes any ``sk_`` key and charges nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import secrets
import socket
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web

with warnings.catch_warnings():
    # localstripe registers plain functions as routes, which aiohttp deprecates; not ours to fix.
    warnings.simplefilter("ignore", DeprecationWarning)
    from localstripe import server as localstripe
from localstripe.errors import UserError
from localstripe.resources import Customer, Event, Plan, Subscription, Token, store
from pydantic import SecretStr

from .settings import DEFAULT_PLANS, BillingSettings
from .settings import Plan as PlanConfig
from .stripe_api import STRIPE_API_VERSION

__all__ = ["StandIn", "StandInServer", "serve_inside", "sign"]

ACTED_ON = (
    "checkout.session.completed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.payment_failed",
)
"""What the webhook endpoint is subscribed to (as a Stripe endpoint's ``enabled_events``)."""

GOOD_CARD = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"
"""Attaches to a customer, then every charge on it is declined (Stripe's test card)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload`` (``t=...,v1=...``: HMAC-SHA256 of
    ``"{t}.{payload}"`` with the endpoint's secret)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _error(status: int, message: str, **fields: str) -> web.Response:
    body = {"error": {"type": "invalid_request_error", "message": message, **fields}}
    return web.json_response(body, status=status)


class StandIn:
    """The stand-in's state and routes, on localstripe's aiohttp application."""

    def __init__(
        self,
        *,
        webhook_url: str,
        webhook_secret: str,
        public_url: str,
        plans: dict[str, PlanConfig] | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.public_url = public_url.rstrip("/")
        self.plans = plans or DEFAULT_PLANS
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.meter_events: dict[str, dict[str, Any]] = {}
        self.events: dict[str, bytes] = {}
        self.deliveries: list[tuple[str, int]] = []
        """(event id, HTTP status or 0 when the endpoint did not answer), in order."""
        self._idempotent: dict[str, tuple[int, bytes]] = {}
        self.app = self._make_app()

    # Set-up

    def _make_app(self) -> web.Application:
        store.dump_to_disk = lambda: None  # localstripe pickles its store on every write
        store.clear()
        localstripe.register_webhook("billing", self.webhook_url, self.webhook_secret, ACTED_ON)
        for plan in self.plans.values():
            if f"plan:{plan.price_id}" not in store:
                Plan(
                    id=plan.price_id,
                    amount=int(plan.price.strip("$").split()[0]) * 100 if "$" in plan.price else 0,
                    currency="usd",
                    interval="month",
                    product={"name": plan.title},
                )
        app: web.Application = localstripe.app
        position = app.middlewares.index(localstripe.auth_middleware)
        app.middlewares[position] = self._auth
        app.middlewares.append(self._idempotency)
        routes = [
            ("POST", "/v1/checkout/sessions", self.create_checkout),
            ("GET", "/v1/checkout/sessions/{id}", self.get_checkout),
            ("POST", "/v1/billing_portal/sessions", self.create_portal),
            ("POST", "/v1/billing/meter_events", self.create_meter_event),
            ("GET", "/checkout/{id}", self.checkout_page),
            ("POST", "/checkout/{id}/pay", self.pay),
            ("GET", "/portal/{id}", self.portal_page),
            ("POST", "/portal/{id}/cancel", self.cancel),
            ("POST", "/portal/{id}/plan/{plan}", self.switch_plan),
            ("GET", "/_standin/meter_events", self.list_meter_events),
            ("GET", "/_standin/deliveries", self.list_deliveries),
            ("POST", "/_standin/events/{id}/resend", self.resend),
            ("POST", "/_standin/subscriptions/{id}/declined_renewal", self.declined_renewal),
            ("GET", "/_standin/healthz", self.healthz),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """localstripe's key check, except for the pages a browser opens and the controls."""
        if request.path.startswith(("/checkout/", "/portal/", "/_standin/")):
            return await handler(request)
        result: web.StreamResponse = await localstripe.auth_middleware(request, handler)
        return result

    @web.middleware
    async def _idempotency(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A POST repeated with the same ``Idempotency-Key`` gets the first answer again."""
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        if key in self._idempotent:
            status, body = self._idempotent[key]
            return web.Response(
                body=body,
                status=status,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        response = await handler(request)
        if (
            isinstance(response, web.Response)
            and response.body is not None
            and response.status < 500
        ):
            self._idempotent[key] = (response.status, bytes(response.body))  # type: ignore[arg-type]
        return response

    # Stripe's API: Checkout Sessions, the Billing Portal, Meter events

    async def create_checkout(self, request: web.Request) -> web.Response:
        data = await localstripe.get_post_data(request) or {}
        if data.get("mode") != "subscription":
            return _error(400, "only mode=subscription is supported here", param="mode")
        items = data.get("line_items") or []
        price = items[0].get("price") if items else None
        if f"plan:{price}" not in store:
            return _error(400, f"No such price: '{price}'", param="line_items[0][price]")
        customer = data.get("customer")
        if not isinstance(customer, str) or f"customer:{customer}" not in store:
            return _error(400, f"No such customer: '{customer}'", param="customer")
        session_id = _new_id("cs_test_")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "client_reference_id": data.get("client_reference_id"),
            "metadata": data.get("metadata") or {},
            "subscription": None,
            "success_url": data.get("success_url"),
            "cancel_url": data.get("cancel_url"),
            "url": f"{self.public_url}/checkout/{session_id}",
            "created": int(time.time()),
            "livemode": False,
            "_price": price,
            "_subscription_metadata": (data.get("subscription_data") or {}).get("metadata") or {},
        }
        self.checkout_sessions[session_id] = session
        return web.json_response(_public(session))

    async def get_checkout(self, request: web.Request) -> web.Response:
        session = self.checkout_sessions.get(request.match_info["id"])
        if session is None:
            return _error(404, "No such checkout.session")
        return web.json_response(_public(session))

    async def create_portal(self, request: web.Request) -> web.Response:
        data = await localstripe.get_post_data(request) or {}
        customer = data.get("customer")
        if not isinstance(customer, str) or f"customer:{customer}" not in store:
            return _error(400, f"No such customer: '{customer}'", param="customer")
        session_id = _new_id("bps_")
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": data.get("return_url"),
            "url": f"{self.public_url}/portal/{session_id}",
            "created": int(time.time()),
            "livemode": False,
        }
        self.portal_sessions[session_id] = session
        return web.json_response(session)

    async def create_meter_event(self, request: web.Request) -> web.Response:
        data = await localstripe.get_post_data(request) or {}
        payload = data.get("payload") or {}
        if not data.get("event_name") or "stripe_customer_id" not in payload:
            return _error(400, "event_name and payload[stripe_customer_id] are required")
        identifier = str(data.get("identifier") or _new_id("mev_"))
        if identifier in self.meter_events:
            return _error(
                400,
                f"An event with identifier {identifier} already exists.",
                code="meter_event_duplicate_identifier",
            )
        event = {
            "object": "billing.meter_event",
            "created": int(time.time()),
            "event_name": data["event_name"],
            "identifier": identifier,
            "livemode": False,
            "payload": {k: str(v) for k, v in payload.items()},
            "timestamp": int(data.get("timestamp") or time.time()),
        }
        self.meter_events[identifier] = event
        return web.json_response(event)

    # The pages

    async def checkout_page(self, request: web.Request) -> web.Response:
        session = self.checkout_sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such checkout session")
        plan = next((p for p in self.plans.values() if p.price_id == session["_price"]), None)
        title = html.escape(f"{plan.title} — {plan.price}" if plan else session["_price"])
        body = f"""<!doctype html><title>Checkout (local Stripe stand-in)</title>
<h1>ClaudeCloud {title}</h1>
<p><b>Local Stripe stand-in:</b> nothing is charged.</p>
<form method="post" action="/checkout/{html.escape(session["id"])}/pay">
<button type="submit">Pay</button></form>
<p><a href="{html.escape(session["cancel_url"] or "/")}">Cancel</a></p>"""
        return web.Response(text=body, content_type="text/html")

    async def pay(self, request: web.Request) -> web.StreamResponse:
        """Subscribe the customer, complete the session, send ``checkout.session.completed``
        (``deliveries`` times: Stripe may deliver an event more than once)."""
        session = self.checkout_sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such checkout session")
        form = await request.post()
        deliveries = int(str(form.get("deliveries", "1")))
        if session["status"] != "complete":
            try:
                self._subscribe(session, str(form.get("card", GOOD_CARD)))
            except UserError as exc:
                response: web.StreamResponse = exc.to_response()
                return response
        for _ in range(deliveries):
            await self.deliver(session["_event"])
        raise web.HTTPSeeOther(session["success_url"] or "/")

    def _subscribe(self, session: dict[str, Any], card: str) -> None:
        token = Token(card={"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"})
        Customer._api_add_source(session["customer"], source=token.id)
        sub = Subscription(
            customer=session["customer"],
            items=[{"plan": session["_price"]}],
            metadata=dict(session["_subscription_metadata"]),
        )
        session.update(status="complete", payment_status="paid", subscription=sub.id)
        event_id = self.record_event("checkout.session.completed", _public(session))
        session["_event"] = event_id

    async def portal_page(self, request: web.Request) -> web.Response:
        session = self.portal_sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such portal session")
        rows = "".join(
            f"<li>{html.escape(sub.id)}: {html.escape(sub.status)}, {html.escape(sub.plan.id)}</li>"
            for sub in self._subscriptions(session["customer"])
        )
        here = f"/portal/{html.escape(session['id'])}"
        switches = "".join(
            f'<form method="post" action="{here}/plan/{html.escape(name)}">'
            f'<button type="submit">Switch to {html.escape(plan.title)}</button></form>'
            for name, plan in self.plans.items()
        )
        body = f"""<!doctype html><title>Billing portal (local Stripe stand-in)</title>
<h1>Your subscription</h1><ul>{rows}</ul>{switches}
<form method="post" action="{here}/cancel">
<button type="submit">Cancel subscription</button></form>
<p><a href="{html.escape(session["return_url"] or "/")}">Back</a></p>"""
        return web.Response(text=body, content_type="text/html")

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        session = self.portal_sessions.get(request.match_info["id"])
        if session is None:
            return web.Response(status=404, text="no such portal session")
        for sub in self._subscriptions(session["customer"]):
            if sub.status != "canceled":
                Subscription._api_delete(sub.id)  # localstripe sends the deleted event
        raise web.HTTPSeeOther(session["return_url"] or "/")

    async def switch_plan(self, request: web.Request) -> web.StreamResponse:
        """Move the live subscription to another plan; Stripe sends
        ``customer.subscription.updated`` (localstripe does not: so do we)."""
        session = self.portal_sessions.get(request.match_info["id"])
        plan = self.plans.get(request.match_info["plan"])
        if session is None or plan is None:
            return web.Response(status=404, text="no such portal session or plan")
        for sub in self._subscriptions(session["customer"]):
            if sub.status not in ("canceled", "incomplete_expired"):
                Subscription._api_update(sub.id, items=[{"plan": plan.price_id}])
                await self.deliver(
                    self.record_event("customer.subscription.updated", sub._export())
                )
        raise web.HTTPSeeOther(session["return_url"] or "/")

    @staticmethod
    def _subscriptions(customer: str) -> Iterable[Any]:
        return [
            v for k, v in store.items() if k.startswith("subscription:") and v.customer == customer
        ]

    # Controls for tests

    async def declined_renewal(self, request: web.Request) -> web.Response:
        """The next period's invoice, charged to a card that declines: the subscription becomes
        ``past_due`` and ``invoice.payment_failed`` is sent."""
        sub = Subscription._api_retrieve(request.match_info["id"])
        token = Token(
            card={"number": DECLINED_ON_CHARGE, "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        )
        card = Customer._api_add_source(sub.customer, source=token.id)
        Customer._api_retrieve(sub.customer).default_source = card.id
        sub._create_invoice()
        # localstripe marks the subscription past_due but sends nothing for a renewal invoice
        # (its pay path swallows the failure); Stripe sends invoice.payment_failed: so do we.
        invoices = [
            v for k, v in store.items() if k.startswith("invoice:") and v.subscription == sub.id
        ]
        latest = max(invoices, key=lambda invoice: (invoice.created, invoice.id))
        event_id = self.record_event("invoice.payment_failed", latest._export())
        status = await self.deliver(event_id)
        return web.json_response(
            {"subscription": sub.id, "status": sub.status, "event": event_id, "delivered": status}
        )

    async def resend(self, request: web.Request) -> web.Response:
        """Deliver an event again, as Stripe's retries do."""
        status = await self.deliver(request.match_info["id"])
        return web.json_response({"status": status})

    async def list_meter_events(self, _request: web.Request) -> web.Response:
        return web.json_response({"data": list(self.meter_events.values())})

    async def list_deliveries(self, _request: web.Request) -> web.Response:
        return web.json_response({"data": [{"event": e, "status": s} for e, s in self.deliveries]})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    # Events

    def record_event(self, event_type: str, obj: dict[str, Any]) -> str:
        """Make and keep an event of ours (signed when delivered), as Stripe's API version."""
        event_id = _new_id("evt_")
        event = {
            "id": event_id,
            "object": "event",
            "api_version": STRIPE_API_VERSION,
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.events[event_id] = json.dumps(event).encode()
        return event_id

    def payload_of(self, event_id: str) -> bytes:
        if event_id in self.events:
            return self.events[event_id]
        found = store.get(f"event:{event_id}")
        if not isinstance(found, Event):
            raise web.HTTPNotFound(text=f"no event {event_id}")
        return json.dumps(found._export(), sort_keys=True).encode()

    async def deliver(self, event_id: str) -> int:
        """POST the event, signed now, to the webhook; its status (0: nobody answered)."""
        payload = self.payload_of(event_id)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, self.webhook_secret),
        }
        try:
            async with (
                aiohttp.ClientSession() as client,
                client.post(self.webhook_url, data=payload, headers=headers) as response,
            ):
                status = response.status
        except aiohttp.ClientError:
            status = 0
        self.deliveries.append((event_id, status))
        return status


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if not k.startswith("_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--public-url", default=None)
    args = parser.parse_args()
    public = args.public_url or f"http://{args.host}:{args.port}"
    standin = StandIn(
        webhook_url=args.webhook_url, webhook_secret=args.webhook_secret, public_url=public
    )
    print(f"local Stripe stand-in on {public} (nothing is charged)", flush=True)
    web.run_app(standin.app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()


class StandInServer:
    """The stand-in served inside the billing process (``BILLING_STRIPE_STANDIN``, as ``make
    run`` sets it when no ``STRIPE_SECRET_KEY`` is given): billing talks to it as to Stripe, and
    its webhooks come back to billing's own endpoint."""

    def __init__(self, standin: StandIn, host: str, port: int) -> None:
        self.standin = standin
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.standin.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def serve_inside(settings: BillingSettings) -> tuple[BillingSettings, StandInServer]:
    """Billing's settings pointed at a stand-in of its own, and that stand-in (not started)."""
    host = "127.0.0.1"
    port = settings.stripe_standin_port or _free_port(host)
    given = settings.stripe_webhook_secret
    secret = given.get_secret_value() if given else "whsec_standin_" + secrets.token_hex(16)
    webhook = f"http://{host}:{settings.http_port}{settings.webhook_path}"
    public = f"http://localhost:{port}"
    standin = StandIn(
        webhook_url=webhook, webhook_secret=secret, public_url=public, plans=settings.plans
    )
    pointed = settings.model_copy(
        update={
            "stripe_api_base": f"http://{host}:{port}",
            "stripe_secret_key": SecretStr("sk_test_standin"),
            "stripe_webhook_secret": SecretStr(secret),
        }
    )
    return pointed, StandInServer(standin, host, port)
