"""What a machine keeps of its agent's secret: enough to check it and to name the agent to the
gateway, and nothing from which the secret can be read back."""

from __future__ import annotations

import secrets

import pytest

from claudecloud_agentapi import AgentCredential, gateway_token


def test_the_kept_credential_checks_the_secret_and_holds_none_of_it() -> None:
    secret = secrets.token_urlsafe(32)
    kept = AgentCredential.of(secret).dump()
    assert secret not in kept
    again = AgentCredential.parse(kept)
    assert again.accepts(secret)
    assert not again.accepts(secrets.token_urlsafe(32))
    assert not again.accepts(kept)  # what the machine keeps is not itself accepted
    assert not again.accepts(again.token)  # nor is the agent's token to the gateway
    assert again.token == gateway_token(secret)


def test_an_older_machines_secret_is_read_as_its_credential() -> None:
    secret = secrets.token_urlsafe(32)
    assert AgentCredential.parse(f"{secret}\n") == AgentCredential.of(secret)


def test_a_damaged_credential_is_refused() -> None:
    with pytest.raises(ValueError, match="not an agent credential"):
        AgentCredential.parse("agent-credential:v1:abc:def")
