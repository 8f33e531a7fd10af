"""Stripe's API where localstripe has none: Checkout Sessions, the Billing Portal, Meter events
(Stripe's documented request and object shapes)."""

from __future__ import annotations

import time

from aiohttp import web
from localstripe.resources import store

from .base import StandInBase, _error, _new_id, _public, localstripe


class StripeRoutes(StandInBase):
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
