"""A Claude credential is refused when it is shorter than Anthropic's keys and tokens can be, and
never more than its last four characters are shown, and only of one long enough to hide the rest."""

from __future__ import annotations

import secrets
from uuid import UUID

from pydantic import SecretStr

from claudecloud_agentapi import CredentialKind
from claudecloud_common.contracts.base import utcnow
from gateway.credentials.repository import CredentialRepository

from .conftest import Gateway

REAL_SHAPED = f"sk-ant-api03-{secrets.token_urlsafe(70)}-madeUpAA"  # about 108, as Anthropic's


async def test_a_credential_shorter_than_a_real_one_is_refused(gateway: Gateway) -> None:
    auth = {"Authorization": f"Bearer {await gateway.sign_in('short@example.com')}"}
    answers = {
        value: await gateway.client.put(
            "/me/claude-credential", json={"kind": "api_key", "value": value}, headers=auth
        )
        for value in ("sk-ant-a", "sk-ant-api03-" + "x" * 26)
    }
    stored = await gateway.client.get("/me/claude-credential", headers=auth)

    for value, answer in answers.items():
        assert answer.status_code == 422, (len(value), answer.text)
        assert value[-4:] not in answer.text
    assert stored.status_code == 404  # nothing was kept


async def test_only_the_last_four_characters_of_a_long_credential_are_shown(
    gateway: Gateway,
) -> None:
    auth = {"Authorization": f"Bearer {await gateway.sign_in('long@example.com')}"}
    put = await gateway.client.put(
        "/me/claude-credential", json={"kind": "oauth_token", "value": REAL_SHAPED}, headers=auth
    )
    shown = await gateway.client.get("/me/claude-credential", headers=auth)

    assert put.status_code == 200, put.text
    assert (shown.json()["kind"], shown.json()["last_four"]) == ("oauth_token", REAL_SHAPED[-4:])


async def test_a_short_credential_stored_before_the_rule_shows_none_of_its_characters(
    gateway: Gateway,
) -> None:
    auth = {"Authorization": f"Bearer {await gateway.sign_in('legacy@example.com')}"}
    me = (await gateway.client.get("/auth/me", headers=auth)).json()
    state = gateway.state
    user_id, short = UUID(me["user_id"]), SecretStr("8chars!!")
    async with state.db.transaction() as session:  # as the route let it in, and kept it, before
        await CredentialRepository(session).save(
            user_id,
            kind=CredentialKind.API_KEY.value,
            ciphertext=state.credential_cipher.seal(user_id, short),
            last_four="rs!!",
            now=utcnow(),
        )
    shown = await gateway.client.get("/me/claude-credential", headers=auth)

    assert shown.status_code == 200
    assert shown.json()["last_four"] is None
    assert "rs!!" not in shown.text
