"""A browser that spends its sign-in link lands on a page that exists."""

from __future__ import annotations

import httpx

from .conftest import BASE_URL, Gateway, sign_in_link


async def test_the_browser_form_lands_on_a_signed_in_page(gateway: Gateway) -> None:
    token = httpx.URL(await sign_in_link(gateway.app, "ada@example.com")).params["token"]

    spent = await gateway.client.post(
        "/auth/verify", data={"token": token}, headers={"Origin": BASE_URL}
    )
    landed = await gateway.client.get(spent.headers["location"])

    assert spent.status_code == 303
    assert landed.status_code == 200
    assert landed.headers["content-type"].startswith("text/html")
    assert "You are signed in as <strong>ada@example.com</strong>" in landed.text
    assert "default-src 'none'" in landed.headers["content-security-policy"]


async def test_the_page_without_a_session_says_how_to_sign_in(gateway: Gateway) -> None:
    page = await gateway.client.get("/")

    assert page.status_code == 401
    assert "Not signed in" in page.text
    assert "claude-cloud login" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
