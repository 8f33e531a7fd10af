"""A local stand-in for the gateway's billing and instance routes, answering in the contracts'
own shapes (built from the pydantic models, so a changed contract changes what it serves), and
keeping every request it was sent."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel

from claudecloud_common.contracts.billing import MachineSize, PlanList, PlanView
from claudecloud_common.contracts.instances import InstanceStatus, InstanceView
from claudecloud_common.contracts.providers import ProviderKind
from claudecloud_common.contracts.spend import BudgetView, UsageDay, UsageSeries

TOKEN = "cli-test-token"
PERIOD_START = datetime(2026, 12, 1, tzinfo=UTC)


def plans() -> PlanList:
    return PlanList(
        items=[
            PlanView(
                name="starter",
                title="Starter",
                price="$20 / month",
                included_hours=40,
                machine=MachineSize(cpus=1, memory_mb=2048, disk_gb=20),
            ),
            PlanView(
                name="pro",
                title="Pro",
                price="$60 / month",
                included_hours=160,
                machine=MachineSize(cpus=4, memory_mb=8192, disk_gb=80),
            ),
        ]
    )


def series(billed_by: str = "anthropic") -> UsageSeries:
    days = [
        UsageDay(day=date(2026, 12, 1), running_hours=4.0, billed_hours=4.0, claude_usd=1.25),
        UsageDay(day=date(2026, 12, 2), running_hours=2.0, frozen_hours=6.0, billed_hours=2.6),
        UsageDay(day=date(2026, 12, 3), running_hours=0.0, billed_hours=0.0),
        UsageDay(day=date(2026, 12, 4), running_hours=8.0, billed_hours=8.0, claude_usd=3.5),
    ]
    return UsageSeries.model_validate(
        {
            "from": date(2026, 12, 1),
            "to": date(2026, 12, 4),
            "days": days,
            "plan": "starter",
            "current_period_start": PERIOD_START,
            "current_period_end": PERIOD_START + timedelta(days=30),
            "hours_included": 10.0,
            "hours_used": 14.6,
            "hours_projected": 109.5,
            "overage_hours": 4.6,
            "overage_usd": 2.3,
            "overage_projected_usd": 49.75,
            "overage_usd_per_hour": 0.5,
            "claude_usd": 4.75,
            "claude_billed_by": billed_by,
        }
    )


@dataclass
class FakeGateway:
    url: str = ""
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    instances: list[InstanceView] = field(default_factory=list)
    instance_after_checkout: bool = True
    budget: BudgetView = field(default_factory=BudgetView)
    usage: UsageSeries = field(default_factory=series)

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body if body is not None else query))
        routes: dict[tuple[str, str], Callable[[], tuple[int, Any]]] = {
            ("GET", "/auth/me"): lambda: (200, {"email": "me@example.com"}),
            ("GET", "/billing/plans"): lambda: (200, plans()),
            ("POST", "/billing/checkout"): lambda: self._checkout(body),
            ("POST", "/billing/portal"): lambda: (200, {"url": "https://stripe.test/portal/p1"}),
            ("GET", "/billing/usage"): lambda: (200, self.usage),
            ("GET", "/instances"): lambda: (200, self.instances),
            ("GET", "/me/budget"): lambda: (200, self.budget),
            ("PUT", "/me/budget"): lambda: self._set_budget(body),
            ("DELETE", "/me/budget"): self._clear_budget,
        }
        found = routes.get((method, path))
        if found is None:
            return 404, {"error": "NotFound", "detail": f"no route {method} {path}"}
        return found()

    def _checkout(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body["plan"] not in {p.name for p in plans().items}:
            return 404, {"error": "UnknownPlan", "detail": f"no plan {body['plan']!r}"}
        if self.instance_after_checkout:  # paid at once: the workstation is being made
            self.instances.append(instance(InstanceStatus.PROVISIONING))
        return 200, {"session_id": "cs_1", "url": "https://stripe.test/checkout/cs_1"}

    def _set_budget(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.budget = BudgetView(
            monthly_limit_usd=body["monthly_limit_usd"],
            hard_stop=body["hard_stop"],
            spent_usd=2.3,
            percent=round(230 / body["monthly_limit_usd"], 1),
        )
        return 200, self.budget

    def _clear_budget(self) -> tuple[int, Any]:
        self.budget = BudgetView()
        return 204, None


def instance(status: InstanceStatus) -> InstanceView:
    now = datetime.now(UTC)
    return InstanceView(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        status=status,
        provider=ProviderKind.DOCKER,
        created_at=now,
        updated_at=now,
    )


def _json(value: Any) -> bytes:
    if isinstance(value, BaseModel):
        return value.model_dump_json(by_alias=True).encode()
    if isinstance(value, list):
        return b"[" + b",".join(_json(v) for v in value) + b"]"
    return json.dumps(value).encode()


@contextmanager
def serving(fake: FakeGateway) -> Iterator[FakeGateway]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            public = self.path == "/billing/plans"
            if not public and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"error": "NotSignedIn", "detail": "no session"})
                return
            parts = urlsplit(self.path)
            if parts.path.endswith("/events"):
                self._events()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            self._send(*fake.answer(self.command, parts.path, query, body))

        def _events(self) -> None:
            """The instance's event stream: it runs."""
            found = fake.instances[-1]
            running = found.model_copy(update={"status": InstanceStatus.RUNNING})
            fake.instances[-1] = running
            data = b"data: " + running.model_dump_json().encode() + b"\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send(self, status: int, value: Any) -> None:
            data = b"" if status == 204 else _json(value)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
