"""Session tokens and sign-in links: what passes, and every way one is refused."""

from __future__ import annotations

import time
from uuid import uuid4

import jwt
import pytest

from gateway.auth.errors import TokenRejected
from gateway.auth.tokens import ALGORITHM, Purpose, Tokens

SECRET = "tokens-test-secret-" + "t" * 32
TTL = {Purpose.SESSION: 3600, Purpose.MAGIC_LINK: 900}


@pytest.fixture
def tokens() -> Tokens:
    return Tokens(SECRET, "claudecloud", TTL)


def test_a_session_names_its_user_and_lives_its_ttl(tokens: Tokens) -> None:
    user = uuid4()
    issued = tokens.issue(user, "ada@example.com", Purpose.SESSION)
    claims = tokens.verify(issued.token, Purpose.SESSION)

    assert (claims.user_id, claims.email) == (user, "ada@example.com")
    lifetime = (claims.expires_at - claims.issued_at).total_seconds()
    assert 3599 <= lifetime <= 3600


def test_a_sign_in_link_is_not_a_session_and_back(tokens: Tokens) -> None:
    link = tokens.issue(uuid4(), "ada@example.com", Purpose.MAGIC_LINK).token
    session = tokens.issue(uuid4(), "ada@example.com", Purpose.SESSION).token

    with pytest.raises(TokenRejected, match="not a session"):
        tokens.verify(link, Purpose.SESSION)
    with pytest.raises(TokenRejected, match="not a sign-in link"):
        tokens.verify(session, Purpose.MAGIC_LINK)


def test_another_secret_or_issuer_is_refused(tokens: Tokens) -> None:
    other_secret = Tokens("another-secret-" + "o" * 32, "claudecloud", TTL)
    other_issuer = Tokens(SECRET, "someone-else", TTL)

    for other in (other_secret, other_issuer):
        token = other.issue(uuid4(), "ada@example.com", Purpose.SESSION).token
        with pytest.raises(TokenRejected, match="invalid session"):
            tokens.verify(token, Purpose.SESSION)


def test_an_expired_session_says_so(tokens: Tokens) -> None:
    now = int(time.time())
    payload = {
        "iss": "claudecloud",
        "sub": str(uuid4()),
        "email": "ada@example.com",
        "purpose": "session",
        "jti": "j",
        "iat": now - 7200,
        "exp": now - 60,
    }
    expired = jwt.encode(payload, SECRET, algorithm=ALGORITHM)

    with pytest.raises(TokenRejected, match="session has expired"):
        tokens.verify(expired, Purpose.SESSION)


def test_an_unsigned_token_is_refused(tokens: Tokens) -> None:
    claims = tokens.verify(
        tokens.issue(uuid4(), "a@example.com", Purpose.SESSION).token, Purpose.SESSION
    )
    payload = {
        "iss": "claudecloud",
        "sub": str(claims.user_id),
        "email": claims.email,
        "purpose": "session",
        "jti": claims.jti,
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    unsigned = jwt.encode(payload, "", algorithm="none")

    with pytest.raises(TokenRejected, match="invalid session"):
        tokens.verify(unsigned, Purpose.SESSION)
