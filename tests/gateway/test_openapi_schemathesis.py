"""Schemathesis over the gateway's own ``/openapi.json``, against the real platform.

Every operation the document declares is called with inputs generated from it (valid ones, and
invalid ones that must be refused with a 4xx), signed in and not, on a gateway whose instance
routes reach a real provisioner over a real NATS and whose database is PostgreSQL. Each answer
must be one the document declares: its status code, its content type and its body, the error
models included (``{"error": ..., "detail": ...}``), and never a 5xx. Signed out, every protected
route answers 401 with its declared error body.

Hypothesis runs derandomized (the same examples on every run) and keeps no database, so a
failure here is the same failure on the next run and nothing is written into the repository.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis import checks as st_checks
from schemathesis.checks import CheckFunction
from schemathesis.core.failures import FailureGroup

from devstack import SERVICES, Stack, local_config
from devstack.signin import sign_in_from_log
from tests.e2e.support import wait_for_status
from tests.support import SERVERS, drop_database

pytestmark = pytest.mark.e2e  # the platform's real processes

EXAMPLES = 12
"""Examples per operation and generation mode: enough to reach every declared answer here in
well under a minute on a busy machine."""
SIGNED_OUT_EXAMPLES = 5

POSITIVE_CHECKS: list[CheckFunction] = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]
NEGATIVE_CHECKS = [*POSITIVE_CHECKS, st_checks.negative_data_rejection]
AGENTLESS_CHECKS = POSITIVE_CHECKS[1:]
"""The fake provider's instance runs no agent: its files, projects and chat answer 502
``AgentUnavailable`` (declared), checked by :func:`_no_server_error_but_no_agent` instead."""
REFUSALS = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, 431]
"""What counts as refusing invalid input: schemathesis' list without 5xx (never acceptable
here), with 413 and 431 (a body or a request head too large is refused unread)."""
BOTH = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
INSTANCE_PATH = r"\{instance_id\}"
LOGOUT = "/auth/logout"
EVENTS = r"/events$"
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
)

# Limits high enough that the run measures the API, not the rate limiter (429 is declared and
# would pass, but would hide every other answer).
STACK_ENV = {
    "GATEWAY_RATE_LIMIT_API": "100000/minute",
    "GATEWAY_RATE_LIMIT_LOGIN": "100000/minute",
    "RPC_TIMEOUT_SECONDS": "5",
    "GATEWAY_ADMISSION_TIMEOUT_SECONDS": "5",
    "OUTBOX_POLL_SECONDS": "0.5",
}


@dataclass
class Figures:
    """What one pass did: operations and examples, and each failure by operation."""

    operations: int = 0
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def __add__(self, other: Figures) -> Figures:
        statuses = dict(self.statuses)
        for status, n in other.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
        return Figures(
            self.operations + other.operations,
            self.examples + other.examples,
            statuses,
            {**self.failures, **other.failures},
        )

    def count(self, status: int) -> None:
        self.examples += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


@dataclass(frozen=True)
class Platform:
    base_url: str
    token: str
    instance_id: str


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """The platform on PostgreSQL (fake provider), one signed-in user with a running instance."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))  # its caches, not in the repo
    server_url = (await asyncio.to_thread(SERVERS.postgres)).sqlalchemy_url
    name = f"cc_schema_{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("schemathesis")
    config = local_config(
        folder, provider="fake", database_url=f"{server_url}/{name}", env=STACK_ENV
    )
    stack = Stack(config)
    try:
        await asyncio.to_thread(stack.start)
        base_url = f"http://127.0.0.1:{config.port}"
        assert config.log_dir is not None
        token = await sign_in_from_log(base_url, config.log_dir / "gateway.log", "fuzz@example.com")
        instance_id = await _running_instance(base_url, token)
        yield Platform(base_url, token, instance_id)
    finally:
        stack.stop_all()
        for service in SERVICES:
            await drop_database(f"{server_url}/{name}_{service.name}")


async def _running_instance(base_url: str, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as api:
        created = await api.post("/instances", json={})
        assert created.status_code == 202, created.text
        instance_id: str = created.json()["id"]
        await wait_for_status(api, instance_id, "running")
        return instance_id


def _explore(
    schema: Any,
    *,
    headers: dict[str, str],
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE,),
    examples: int = EXAMPLES,
    fixed: dict[str, str] | None = None,
    checks: list[CheckFunction] | None = None,
    expect: Callable[[Case[Any], schemathesis.Response], None] | None = None,
) -> Figures:
    """Every operation of ``schema``, ``examples`` cases per mode; failures collected, not
    raised, so one run reports them all."""
    figures = Figures()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        figures.operations += 1
        for mode in modes:
            values = _fixed_path(operation, fixed)
            negative = mode is GenerationMode.NEGATIVE
            applied = NEGATIVE_CHECKS if negative else (checks or POSITIVE_CHECKS)

            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=(Phase.explicit, Phase.generate),  # no shrinking: bounded time
                print_blob=False,
            )
            @given(case=operation.as_strategy(mode, path_parameters=values))
            def run(case: Case[Any]) -> None:
                if headers:  # signed in: ours, not credentials generated from the schemes
                    _drop_credentials(case)
                response = case.call(session=session, headers=headers, timeout=15)
                figures.count(response.status_code)
                case.validate_response(response, checks=applied, headers=headers)  # noqa: B023
                if expect is not None:
                    expect(case, response)

            label = f"{operation.label} [{mode.value}{' own' if values else ''}]"
            try:
                run()
            except Unsatisfiable:
                pass  # nothing to make invalid (an operation without parameters or body)
            except (AssertionError, FailureGroup) as exc:
                figures.failures[label] = str(exc)[:2000]
    return figures


def _drop_credentials(case: Case[Any]) -> None:
    for name in ("Authorization", "X-API-Key"):
        if case.headers and name in case.headers:
            del case.headers[name]
    if case.cookies:
        case.cookies.pop("session", None)


def _fixed_path(operation: Any, values: dict[str, str] | None) -> dict[str, str] | None:
    if not values:
        return None
    names = {p.name for p in operation.path_parameters}
    return {k: v for k, v in values.items() if k in names} or None


def _protected(case: Case[Any]) -> bool:
    return bool(case.operation.definition.raw.get("security"))


def _refused_unsigned(case: Case[Any], response: schemathesis.Response) -> None:
    """Signed out (or with made-up credentials), a protected route answers 401: its body is
    one of the declared error models (``response_schema_conformance`` checked which)."""
    if _protected(case):
        assert response.status_code == 401, (case.operation.label, response.status_code)


def _no_server_error_but_no_agent(case: Case[Any], response: schemathesis.Response) -> None:
    if response.status_code >= 500:
        assert response.status_code == 502, (case.operation.label, response.text)
        assert response.json()["error"] == "AgentUnavailable", response.text


def _report(title: str, figures: Figures, seconds: float) -> None:
    print(
        f"\nschemathesis {title}: {figures.operations} operations, {figures.examples} examples "
        f"in {seconds:.1f}s, statuses {dict(sorted(figures.statuses.items()))}, "
        f"{len(figures.failures)} failing"
    )
    for label, failure in figures.failures.items():
        print(f"--- {label}\n{failure}")


async def test_every_answer_is_declared_and_none_is_a_server_error(platform: Platform) -> None:
    schema = schemathesis.openapi.from_url(f"{platform.base_url}/openapi.json", config=CONFIG)
    signed_in = {"Authorization": f"Bearer {platform.token}"}
    own = {"instance_id": platform.instance_id}
    # The own instance's event stream stays open while it lives: it is read once destroyed.
    by_instance = schema.include(path_regex=INSTANCE_PATH)
    alive = by_instance.exclude(method="DELETE").exclude(path_regex=EVENTS)
    total = await _timed("signed in", schema.exclude(path=LOGOUT), headers=signed_in, modes=BOTH)
    total += await _timed(
        "the user's own instance",
        alive,
        headers=signed_in,
        fixed=own,
        checks=AGENTLESS_CHECKS,
        expect=_no_server_error_but_no_agent,
    )
    destroy = schema.include(path_regex=INSTANCE_PATH, method="DELETE")
    total += await _timed("destroying it", destroy, headers=signed_in, fixed=own)
    await _destroyed(platform)
    events = schema.include(path_regex=EVENTS)
    total += await _timed("its events, destroyed", events, headers=signed_in, fixed=own)
    # Signing out ends the session every pass above used.
    total += await _timed("signing out", schema.include(path=LOGOUT), headers=signed_in)
    signed_out = await _timed(
        "signed out", schema, headers={}, examples=SIGNED_OUT_EXAMPLES, expect=_refused_unsigned
    )

    print(
        f"\nschemathesis in all: {signed_out.operations} operations, "
        f"{total.examples + signed_out.examples} examples, "
        f"{len(total.failures) + len(signed_out.failures)} failing"
    )
    assert {**total.failures, **signed_out.failures} == {}


async def _destroyed(platform: Platform) -> None:
    headers = {"Authorization": f"Bearer {platform.token}"}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers) as api:
        await wait_for_status(api, platform.instance_id, "destroyed")


async def _timed(title: str, schema: Any, **options: Any) -> Figures:
    started = time.monotonic()
    figures: Figures = await asyncio.to_thread(_explore, schema, **options)
    _report(title, figures, time.monotonic() - started)
    return figures
