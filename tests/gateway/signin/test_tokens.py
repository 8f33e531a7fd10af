"""Every way a token can be wrong is a 401."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest

from tests.mail import MailCatcher

from .conftest import ISSUER, JWT_SECRET, bearer, new_email, sign_in, token_of

JSON = {"Accept": "application/json"}


def _claims(user_id: str, email: str, purpose: str = "session", **extra: Any) -> dict[str, Any]:
    now = time.time()
    claims = {
        "iss": ISSUER,
        "sub": user_id,
        "user_id": user_id,
        "email": email,
        "purpose": purpose,
        "jti": uuid4().hex,
        "iat": now,
        "exp": int(now) + 3600,
    }
    claims.update(extra)
    return claims


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
async def someone(anonymous: httpx.AsyncClient, mail: MailCatcher) -> dict[str, Any]:
    session: dict[str, Any] = await sign_in(anonymous, mail, new_email("tok"))
    assert (await anonymous.get("/auth/me", headers=bearer(session["token"]))).status_code == 200
    return session


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/auth/me", headers=bearer(token))


async def test_a_tampered_signature_is_refused(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    header, _payload, signature = someone["token"].split(".")
    other = _segment(_claims(str(uuid4()), "mallory@example.com"))
    response = await _me(anonymous, f"{header}.{other}.{signature}")
    assert response.status_code == 401
    assert response.json()["error"] == "TokenRejected"


async def test_a_token_signed_with_another_secret_is_refused(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    forged = jwt.encode(
        _claims(someone["user_id"], someone["email"]), "another-secret-" + "y" * 32, "HS256"
    )
    assert (await _me(anonymous, forged)).status_code == 401


async def test_an_expired_session_is_refused(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    claims = _claims(someone["user_id"], someone["email"], exp=int(time.time()) - 600)
    response = await _me(anonymous, jwt.encode(claims, JWT_SECRET, "HS256"))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_alg_none_is_refused(anonymous: httpx.AsyncClient, someone: dict[str, Any]) -> None:
    claims = _claims(someone["user_id"], someone["email"])
    unsigned = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."
    assert (await _me(anonymous, unsigned)).status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_another_algorithm_is_refused(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    claims = _claims(someone["user_id"], someone["email"])
    for algorithm in ("HS512", "HS384"):
        token = jwt.encode(claims, JWT_SECRET, algorithm)
        assert (await _me(anonymous, token)).status_code == 401, algorithm


async def test_a_token_without_exp_is_refused(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    claims = _claims(someone["user_id"], someone["email"])
    del claims["exp"]
    response = await _me(anonymous, jwt.encode(claims, JWT_SECRET, "HS256"))
    assert response.status_code == 401


async def test_a_token_from_another_issuer_is_refused(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    claims = _claims(someone["user_id"], someone["email"], iss="someone-else")
    assert (await _me(anonymous, jwt.encode(claims, JWT_SECRET, "HS256"))).status_code == 401


async def test_a_magic_link_is_not_a_session(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    email = new_email("link-as-session")
    await anonymous.post("/auth/login", json={"email": email})
    magic = token_of(await mail.next_link(email))
    response = await _me(anonymous, magic)
    assert response.status_code == 401
    assert response.json()["detail"] == "this token is not a session"
    anonymous.cookies.set("session", magic)
    assert (await anonymous.get("/auth/me")).status_code == 401


async def test_a_session_is_not_a_magic_link(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    response = await anonymous.post("/auth/verify", json={"token": someone["token"]}, headers=JSON)
    assert response.status_code == 401
    assert response.json()["detail"] == "this token is not a sign-in link"


async def test_a_magic_link_works_once(anonymous: httpx.AsyncClient, mail: MailCatcher) -> None:
    email = new_email("twice")
    await anonymous.post("/auth/login", json={"email": email})
    magic = token_of(await mail.next_link(email))
    first = await anonymous.post("/auth/verify", json={"token": magic}, headers=JSON)
    second = await anonymous.post("/auth/verify", json={"token": magic}, headers=JSON)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["error"] == "LinkAlreadyUsed"
    browser = await anonymous.post("/auth/verify", data={"token": magic})
    assert browser.status_code == 401
    assert "already used" in browser.text
    assert browser.headers["content-type"].startswith("text/html")


async def test_an_expired_magic_link_is_refused(
    anonymous: httpx.AsyncClient, someone: dict[str, Any]
) -> None:
    claims = _claims(someone["user_id"], someone["email"], "magic_link", exp=int(time.time()) - 60)
    token = jwt.encode(claims, JWT_SECRET, "HS256")
    response = await anonymous.post("/auth/verify", json={"token": token}, headers=JSON)
    assert response.status_code == 401
    assert response.json()["detail"] == "sign-in link has expired"


async def test_a_session_issued_before_logout_is_refused(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    email = new_email("revoked")
    before = (await sign_in(anonymous, mail, email))["token"]
    assert (await anonymous.post("/auth/logout", headers=bearer(before))).status_code == 204
    response = await _me(anonymous, before)
    assert response.status_code == 401
    assert response.json()["error"] == "SignedOut"
