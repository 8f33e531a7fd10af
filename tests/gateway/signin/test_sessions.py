"""Sessions held by browsers and by several replicas: cross-site changes are refused, and a
logout on one replica ends the session on the others within the check interval."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.mail import MailCatcher
from tests.support import create_database, drop_database, eventually

from .conftest import InProcess, bearer, client_of, new_email, smtp_env, token_of


def _smtp(smtp: tuple[MailCatcher, int]) -> dict[str, str]:
    return {k.removeprefix("GATEWAY_").lower(): v for k, v in smtp_env(smtp[1]).items()}


async def _session(client: httpx.AsyncClient, mail: MailCatcher) -> str:
    email = new_email("replica")
    await client.post("/auth/login", json={"email": email})
    magic = token_of(await mail.next_link(email))
    verified = await client.post(
        "/auth/verify", json={"token": magic}, headers={"Accept": "application/json"}
    )
    token: str = verified.json()["token"]
    return token


async def test_a_cookie_change_from_another_site_is_refused(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess
) -> None:
    app = await in_process(tmp_path, base_url="http://cloud.test", **_smtp(smtp))
    async with client_of(app, "http://cloud.test") as client:
        client.cookies.set("session", await _session(client, smtp[0]))
        evil = await client.post("/auth/logout", headers={"Origin": "https://evil.example"})
        read = await client.get("/auth/me", headers={"Origin": "https://evil.example"})
        ours = await client.post("/auth/logout", headers={"Origin": "http://cloud.test"})
    assert evil.status_code == 403
    assert evil.json()["error"] == "CrossSiteRequest"
    assert read.status_code == 200  # reading is not a change
    assert ours.status_code == 204


async def test_a_logout_reaches_every_replica(
    tmp_path: Path, smtp: tuple[MailCatcher, int], in_process: InProcess
) -> None:
    database = await create_database("cc_auth_replicas")
    try:
        shared = {"database_url": database, "session_check_cache_seconds": 0.5, **_smtp(smtp)}
        one = await in_process(tmp_path / "one", **shared)
        two = await in_process(tmp_path / "two", **shared)
        async with client_of(one) as first, client_of(two) as second:
            token = await _session(first, smtp[0])
            assert (await second.get("/auth/me", headers=bearer(token))).status_code == 200
            assert (await first.post("/auth/logout", headers=bearer(token))).status_code == 204
            assert (await first.get("/auth/me", headers=bearer(token))).status_code == 401

            async def refused_by_the_other() -> bool:
                response = await second.get("/auth/me", headers=bearer(token))
                return response.status_code == 401

            await eventually(refused_by_the_other, timeout=5, what="the other replica refuses")
    finally:
        await in_process.close()
        await drop_database(database)
