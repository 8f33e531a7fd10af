"""The pages a person clicks through (Checkout's "Pay", the portal's "Cancel" and "Switch to"),
and the controls tests use under ``/_standin/``."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web
from localstripe.errors import UserError
from localstripe.resources import Customer, Subscription, Token, store

from .base import DECLINED_ON_CHARGE, GOOD_CARD, StandInBase, _public


class Pages(StandInBase):
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
