"""What an outside probe of the gateway found (issue 14), each tried again against a running
gateway: login CSRF, WebSockets that answered before ownership, unreadable token claims, control
characters in addresses, one sign-in mail to several mailboxes, unbounded request heads and
correlation ids, and the development JWT secret."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
import websockets
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed, InvalidStatus

from claudecloud_common.migrations import upgrade_to_head
from devstack import Stack
from gateway.app import MIGRATIONS, create_app
from gateway.settings import GatewaySettings
from tests.mail import MailCatcher
from tests.support import eventually, free_port, stream_messages

from .conftest import (
    ISSUER,
    JWT_SECRET,
    base_url,
    bearer,
    client_of,
    new_email,
    sign_in,
    smtp_env,
    token_of,
)

EVIL = "https://evil.example"
JSON = {"Accept": "application/json"}


# 1. Login CSRF: a foreign page must not sign a victim into the attacker's account


async def _magic_token(client: httpx.AsyncClient, mail: MailCatcher, email: str) -> str:
    asked = await client.post("/auth/login", json={"email": email})
    assert asked.status_code == 202, asked.text
    return token_of(await mail.next_link(email))


@pytest.mark.parametrize(
    "browser",
    [{"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
    ids=["foreign-origin", "cross-site-fetch", "opaque-origin"],
)
async def test_a_sign_in_form_posted_from_another_site_is_refused(
    anonymous: httpx.AsyncClient, mail: MailCatcher, browser: dict[str, str]
) -> None:
    magic = await _magic_token(anonymous, mail, new_email("attacker"))
    forged = await anonymous.post("/auth/verify", data={"token": magic}, headers=browser)
    assert forged.status_code == 403, forged.text
    assert "set-cookie" not in forged.headers
    assert "session" not in anonymous.cookies

    # Refused before the link was spent: its owner can still use it from our own page.
    own_page = {"Origin": str(anonymous.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    signed_in = await anonymous.post("/auth/verify", data={"token": magic}, headers=own_page)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["set-cookie"].startswith("session=")


async def test_a_client_that_sends_no_origin_still_signs_in(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    magic = await _magic_token(anonymous, mail, new_email("cli"))
    verified = await anonymous.post("/auth/verify", json={"token": magic}, headers=JSON)
    assert verified.status_code == 200, verified.text
    assert verified.json()["token"]


async def test_other_state_changing_posts_refuse_a_foreign_origin(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    email = new_email("victim")
    asked = await anonymous.post("/auth/login", json={"email": email}, headers={"Origin": EVIL})
    assert asked.status_code == 403, asked.text
    assert asked.json()["error"] == "CrossSiteRequest"

    session = await sign_in(anonymous, mail, email)
    logout = await anonymous.post(
        "/auth/logout", headers={**bearer(session["token"]), "Sec-Fetch-Site": "cross-site"}
    )
    assert logout.status_code == 403, logout.text
    still = await anonymous.get("/auth/me", headers=bearer(session["token"]))
    assert still.status_code == 200


# 2. Someone else's instance looks exactly like a missing one, over HTTP and WebSocket


async def _close_of(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """How the gateway ends this WebSocket: (close code, reason), or (HTTP status, "")."""
    try:
        async with websockets.connect(url, additional_headers=headers, proxy=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
    except InvalidStatus as refused:
        return refused.response.status_code, ""
    received = closed.value.rcvd
    assert received is not None
    return received.code, received.reason


async def _status_of(client: httpx.AsyncClient, token: str, instance_id: str) -> str | None:
    response = await client.get(f"/instances/{instance_id}", headers=bearer(token))
    return response.json()["status"] if response.status_code == 200 else None


async def _answers(
    client: httpx.AsyncClient, ws_base: str, token: str, instance_id: str
) -> list[Any]:
    """Every way in to an instance's workspace, each answer with the id masked."""
    found: list[Any] = []
    for method, path in [
        ("POST", "tickets"),
        ("GET", "files"),
        ("GET", "files/read?path=x"),
        ("GET", "projects"),
        ("POST", "projects/clone"),
    ]:
        body = {"url": "https://example.com/r.git"} if path == "projects/clone" else None
        response = await client.request(
            method, f"/instances/{instance_id}/{path}", json=body, headers=bearer(token)
        )
        found.append((path, response.status_code, response.text.replace(instance_id, "ID")))
    for socket in ("terminal", "chat"):
        code, reason = await _close_of(f"{ws_base}/instances/{instance_id}/{socket}", bearer(token))
        found.append((socket, code, reason.replace(instance_id, "ID")))
    return found


async def test_someone_elses_instance_answers_like_a_missing_one(
    stack: Stack, anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    a = await sign_in(anonymous, mail, new_email("prober"))
    b = await sign_in(anonymous, mail, new_email("owner"))
    created = await anonymous.post("/instances", headers=bearer(b["token"]))
    assert created.status_code == 202, created.text
    theirs = created.json()["id"]
    ws_base = base_url(stack).replace("http://", "ws://", 1)

    async def status_is(wanted: str) -> bool:
        return await _status_of(anonymous, b["token"], theirs) == wanted

    missing = await _answers(anonymous, ws_base, a["token"], str(uuid4()))
    assert all(code in (404, 4404) for _, code, _ in missing), missing

    await eventually(lambda: status_is("running"), what="B's instance running")
    assert await _answers(anonymous, ws_base, a["token"], theirs) == missing

    paused = await anonymous.post(f"/instances/{theirs}/pause", headers=bearer(b["token"]))
    assert paused.status_code == 202, paused.text
    await eventually(lambda: status_is("frozen"), what="B's instance frozen")
    assert await _answers(anonymous, ws_base, a["token"], theirs) == missing


# 3. A claim that cannot be read is a 401, never a 500


def _forged(
    user_id: str, email: str, purpose: str, *, secret: str = JWT_SECRET, **extra: Any
) -> str:
    now = time.time()
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": user_id,
        "user_id": user_id,
        "email": email,
        "purpose": purpose,
        "jti": uuid4().hex,
        "iat": now,
        "exp": int(now) + 600,
        **extra,
    }
    return jwt.encode(claims, secret, "HS256")


UNREADABLE = [
    {"exp": 10**20},
    {"exp": 10**400},
    {"iat": -(10**20)},
    {"nbf": 10**400},
]


@pytest.mark.parametrize("claims", UNREADABLE, ids=["exp-1e20", "exp-1e400", "iat", "nbf"])
async def test_a_token_whose_dates_cannot_be_read_is_a_401(
    stack: Stack, anonymous: httpx.AsyncClient, mail: MailCatcher, claims: dict[str, Any]
) -> None:
    user = await sign_in(anonymous, mail, new_email("dates"))
    session = _forged(user["user_id"], user["email"], "session", **claims)
    me = await anonymous.get("/auth/me", headers=bearer(session))
    assert me.status_code == 401, me.text
    assert me.json()["error"] == "TokenRejected"

    link = _forged(user["user_id"], user["email"], "magic_link", **claims)
    verified = await anonymous.post("/auth/verify", json={"token": link}, headers=JSON)
    assert verified.status_code == 401, verified.text
    page = await anonymous.post("/auth/verify", data={"token": link})
    assert page.status_code == 401, page.text

    ws = base_url(stack).replace("http://", "ws://", 1)
    closed = await _close_of(f"{ws}/instances/{uuid4()}/terminal", bearer(session))
    assert closed[0] == 4401, closed


# 5. Control characters in addresses are refused; 6. one mail, one mailbox


class Envelopes:
    """An SMTP handler that keeps each mail's envelope recipients (what the server delivers to,
    whatever the headers say)."""

    def __init__(self) -> None:
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _smtp_settings(port: int) -> dict[str, Any]:
    return {k.removeprefix("GATEWAY_").lower(): v for k, v in smtp_env(port).items()}


@pytest.fixture
def envelopes() -> Iterator[tuple[Envelopes, int]]:
    handler = Envelopes()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
async def mailing_gateway(
    tmp_path: Path, envelopes: tuple[Envelopes, int]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(
        **_smtp_settings(envelopes[1]),
        data_dir=tmp_path,
        jwt_secret=JWT_SECRET,
        rate_limit_login="1000/minute",
    )
    await upgrade_to_head(settings.resolved_database_url, MIGRATIONS, "alembic_version_gateway")
    app = create_app(settings)
    async with client_of(app) as client:
        yield client
    await app.state.gateway.db.dispose()


HOSTILE_ADDRESSES = [
    "victim@example.com,postmaster,root",
    "victim@example.com, root@example.com",
    "victim@example.com\r\nBcc: root@example.com",
    "victim@example.com;root@example.com",
    "Victim <victim@example.com>",
    '"root@example.com"@example.com',
    "vic\x00tim@example.com",
    "vic\x1b[31mtim@example.com",
    "vic\x7ftim@example.com",
    "vic\u200btim@example.com",
    "vic\u202etim@example.com",
    "victim@exa\u200bmple.com",
]


async def test_an_address_that_is_not_exactly_one_mailbox_is_refused(
    mailing_gateway: httpx.AsyncClient, envelopes: tuple[Envelopes, int]
) -> None:
    for hostile in HOSTILE_ADDRESSES:
        answer = await mailing_gateway.post("/auth/login", json={"email": hostile})
        assert answer.status_code == 422, (hostile, answer.text)
        assert answer.json()["error"] == "ValidationError"
    plain = await mailing_gateway.post("/auth/login", json={"email": "  Ada@Example.COM "})
    assert plain.status_code == 202, plain.text

    def delivered() -> list[list[str]]:
        return envelopes[0].recipients

    await eventually(delivered, what="the one legitimate mail")
    assert envelopes[0].recipients == [["ada@example.com"]]


# 7. The request head is bounded: 431 before anything reads it


async def test_an_oversized_request_head_is_a_431(anonymous: httpx.AsyncClient) -> None:
    big_header = await anonymous.get("/healthz", headers={"X-Padding": "a" * 100_000})
    assert big_header.status_code == 431, big_header.text[:200]
    many_headers = await anonymous.get(
        "/healthz", headers={f"X-Pad-{i}": "b" * 100 for i in range(1000)}
    )
    assert many_headers.status_code == 431
    long_line = await anonymous.get("/healthz", params={"q": "c" * 60_000})
    assert long_line.status_code == 431
    usual = await anonymous.get("/healthz", headers={"X-Padding": "d" * 4000})
    assert usual.status_code == 200, usual.text


# 8. Correlation ids: the client's only when short and plain


async def _command_correlation(stack: Stack, instance_id: str) -> str | None:
    """The correlation id the provisioner's events about the instance carry (from the
    command)."""
    for message in await stream_messages(stack.config.resolved_nats_url, "EVT", "evt.instance.>"):
        body = json.loads(message.data)
        if body.get("instance_id") == instance_id:
            found: str | None = body.get("correlation_id")
            return found
    return None


@pytest.mark.parametrize(
    "offered",
    ["x" * 4000, "a b", "<script>", "../../etc", "ü-id", "x" * 65],
    ids=["4000-chars", "space", "markup", "path", "non-ascii", "65-chars"],
)
async def test_an_unfit_request_id_is_replaced_at_the_edge(
    stack: Stack, anonymous: httpx.AsyncClient, admin: httpx.AsyncClient, offered: str
) -> None:
    headers = {"X-Request-ID": offered}
    try:
        created = await admin.post("/instances", json={"user_id": str(uuid4())}, headers=headers)
    except UnicodeEncodeError:  # httpx sends only ASCII headers: send it as UTF-8 bytes
        raw = [(b"X-Request-ID", offered.encode())]
        created = await admin.post("/instances", json={"user_id": str(uuid4())}, headers=raw)
    assert created.status_code == 202, created.text
    minted = created.headers.get("x-request-id", "")
    assert minted != offered
    assert 0 < len(minted) <= 64

    async def on_the_bus() -> str | None:
        return await _command_correlation(stack, created.json()["id"])

    assert await eventually(on_the_bus, what="the create command") == minted


async def test_a_plain_request_id_is_kept_end_to_end(
    stack: Stack, admin: httpx.AsyncClient
) -> None:
    offered = f"req-{uuid4().hex}.retry_1"
    created = await admin.post(
        "/instances", json={"user_id": str(uuid4())}, headers={"X-Request-ID": offered}
    )
    assert created.status_code == 202, created.text
    assert created.headers["x-request-id"] == offered

    async def on_the_bus() -> str | None:
        return await _command_correlation(stack, created.json()["id"])

    assert await eventually(on_the_bus, what="the create command") == offered


# The development JWT secret: made on first start, kept under DATA_DIR, never a constant

OLD_CONSTANT = "dev-insecure-jwt-secret-change-me-in-production"


async def _gateway_without_secret(data_dir: Path, smtp: tuple[MailCatcher, int]) -> FastAPI:
    settings = GatewaySettings(**_smtp_settings(smtp[1]), data_dir=data_dir, database_url=None)
    await upgrade_to_head(settings.resolved_database_url, MIGRATIONS, "alembic_version_gateway")
    return create_app(settings)


async def test_development_makes_its_secret_once_and_keeps_it_private(
    tmp_path: Path, smtp: tuple[MailCatcher, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JWT_SECRET", "GATEWAY_JWT_SECRET", "ENVIRONMENT", "GATEWAY_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "shared"
    shared.mkdir()
    one = await _gateway_without_secret(shared, smtp)
    two = await _gateway_without_secret(shared, smtp)  # a replica, or the next start
    (tmp_path / "other").mkdir()
    elsewhere = await _gateway_without_secret(tmp_path / "other", smtp)
    try:
        email = new_email("dev")
        async with client_of(one) as first, client_of(two) as second:
            session = await sign_in(first, smtp[0], email)
            again = await second.get("/auth/me", headers=bearer(session["token"]))
            with_constant = _forged(session["user_id"], email, "session", secret=OLD_CONSTANT)
            refused = await first.get("/auth/me", headers=bearer(with_constant))
        async with client_of(elsewhere) as third:
            foreign = await third.get("/auth/me", headers=bearer(session["token"]))
    finally:
        for app in (one, two, elsewhere):
            await app.state.gateway.db.dispose()
    assert again.status_code == 200, again.text
    assert refused.status_code == 401, refused.text
    assert foreign.status_code == 401, foreign.text

    kept = [p for p in shared.iterdir() if "secret" in p.name]
    assert len(kept) == 1, list(shared.iterdir())
    mode = stat.S_IMODE(os.stat(kept[0]).st_mode)
    assert mode == 0o600, oct(mode)
    assert len(kept[0].read_bytes().strip()) >= 43


def test_replicas_starting_together_agree_on_one_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JWT_SECRET", "GATEWAY_JWT_SECRET", "ENVIRONMENT", "GATEWAY_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    replicas = [GatewaySettings(data_dir=tmp_path) for _ in range(8)]
    with ThreadPoolExecutor(len(replicas)) as pool:
        made = list(pool.map(lambda replica: replica.signing_secret(), replicas))
    assert len({secret.get_secret_value() for secret in made}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["gateway-jwt-secret"]  # no drafts left
