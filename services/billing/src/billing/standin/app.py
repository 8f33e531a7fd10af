"""The stand-in assembled on localstripe's aiohttp application, and served inside billing."""

from __future__ import annotations

import secrets
import socket

from aiohttp import web
from localstripe.resources import Plan, store
from pydantic import SecretStr

from ..settings import BillingSettings
from ..settings import Plan as PlanConfig
from .api import StripeRoutes
from .base import ACTED_ON, Handler, localstripe
from .pages import Pages


class StandIn(StripeRoutes, Pages):
    """The stand-in's state and routes. One per process: localstripe keeps its state (and its
    application) in module globals."""

    def __init__(
        self,
        *,
        webhook_url: str,
        webhook_secret: str,
        public_url: str,
        plans: dict[str, PlanConfig] | None = None,
    ) -> None:
        super().__init__(
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            public_url=public_url,
            plans=plans,
        )
        self.app = self._make_app()

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
    webhook = f"http://{host}:{settings.webhook_port}{settings.webhook_path}"
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
