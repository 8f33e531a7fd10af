"""The whole sign-in through a real SMTP server, the scanner-safe link, and logging out."""

from __future__ import annotations

import httpx

from tests.mail import MailCatcher

from .conftest import bearer, new_email, sign_in, token_of


async def test_sign_in_by_mail_then_me_with_the_cookie_and_with_the_bearer(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    email = new_email("ada")
    asked = await anonymous.post("/auth/login", json={"email": f"  {email.upper()} "})
    assert asked.status_code == 202, asked.text

    link = await mail.next_link(email)  # the address was normalised before it was mailed
    sent = mail.mails_to(email)[-1]
    assert sent["From"] == "ClaudeCloud <sign-in@claudecloud.test>"
    assert link.startswith(f"{anonymous.base_url}/auth/verify?token=")

    verified = await anonymous.post("/auth/verify", data={"token": token_of(link)})
    assert verified.status_code == 303
    assert verified.headers["location"] == "/"
    cookie = verified.headers["set-cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test for Secure + __Host-

    me_by_cookie = await anonymous.get("/auth/me")
    assert me_by_cookie.status_code == 200, me_by_cookie.text
    assert me_by_cookie.json()["email"] == email
    assert me_by_cookie.json()["is_admin"] is False

    session = anonymous.cookies["session"]
    anonymous.cookies.clear()
    me_by_bearer = await anonymous.get("/auth/me", headers=bearer(session))
    assert me_by_bearer.json() == me_by_cookie.json()


async def test_the_answer_is_the_same_for_a_known_and_an_unknown_address(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    known = new_email("known")
    await sign_in(anonymous, mail, known)
    again = await anonymous.post("/auth/login", json={"email": known})
    fresh = await anonymous.post("/auth/login", json={"email": new_email("fresh")})
    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()


async def test_opening_the_link_shows_a_button_and_spends_nothing(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    email = new_email("scanned")
    await anonymous.post("/auth/login", json={"email": email})
    link = await mail.next_link(email)

    for _ in range(3):  # a mail scanner, a link preview, the person
        page = await anonymous.get(link)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<form method="post" action="/auth/verify">' in page.text
        assert "set-cookie" not in page.headers

    verified = await anonymous.post(
        "/auth/verify", json={"token": token_of(link)}, headers={"Accept": "application/json"}
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["email"] == email


async def test_a_bad_email_is_a_validation_error(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/auth/login", json={"email": "not an address"})
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"


async def test_logout_clears_the_cookie_and_ends_every_earlier_session(
    anonymous: httpx.AsyncClient, mail: MailCatcher
) -> None:
    email = new_email("leaving")
    laptop = (await sign_in(anonymous, mail, email))["token"]
    phone = (await sign_in(anonymous, mail, email))["token"]

    out = await anonymous.post("/auth/logout", headers=bearer(phone))
    assert out.status_code == 204
    assert 'session=""' in out.headers["set-cookie"]
    assert "Max-Age=0" in out.headers["set-cookie"]

    for token in (laptop, phone):
        refused = await anonymous.get("/auth/me", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.json()["error"] == "SignedOut"

    later = (await sign_in(anonymous, mail, email))["token"]
    assert (await anonymous.get("/auth/me", headers=bearer(later))).status_code == 200
