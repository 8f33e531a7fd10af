"""``GET /claude``, ``PUT /credentials`` and ``DELETE /credentials?revision=``: how Claude Code is
signed in on the instance, and the user's credential the gateway delivers to it (never on the
bus; each push names the gateway's revision, and the agent ignores an older one)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, SecretStr, field_validator

__all__ = [
    "MIN_CREDENTIAL_CHARS",
    "ClaudeStatus",
    "CredentialKind",
    "CredentialPush",
    "SignInMethod",
]

MIN_CREDENTIAL_CHARS = 40
"""Anthropic's API keys (``sk-ant-api03-...``) and Claude Code's OAuth tokens
(``sk-ant-oat01-...``) are over 100 characters. Refusing what is shorter than 40 refuses a word,
a truncated paste or a prefix, while a shorter format Anthropic may bring still fits."""


class CredentialKind(StrEnum):
    API_KEY = "api_key"
    """An Anthropic API key (``sk-ant-api...``): Claude Code reads it as ``ANTHROPIC_API_KEY``."""
    OAUTH_TOKEN = "oauth_token"  # noqa: S105 (a kind, not a token)
    """A Claude Code OAuth token (``claude setup-token``): read as ``CLAUDE_CODE_OAUTH_TOKEN``."""

    @property
    def variable(self) -> str:
        """The environment variable Claude Code reads this kind from."""
        return _VARIABLES[self]


_VARIABLES = {
    CredentialKind.API_KEY: "ANTHROPIC_API_KEY",
    CredentialKind.OAUTH_TOKEN: "CLAUDE_CODE_OAUTH_TOKEN",
}


class SignInMethod(StrEnum):
    SUBSCRIPTION = "subscription"
    API_KEY = "api_key"
    OAUTH_TOKEN = "oauth_token"  # noqa: S105 (a method, not a token)
    NONE = "none"


WireSecret = Annotated[
    SecretStr, PlainSerializer(lambda s: s.get_secret_value(), return_type=str, when_used="json")
]
"""Sent in clear in the request body (JSON), masked in reprs, logs and Python dumps."""


class CredentialPush(BaseModel):
    """``PUT /credentials``: the credential the user stored, at the gateway's revision."""

    model_config = ConfigDict(extra="forbid")

    kind: CredentialKind
    value: WireSecret = Field(min_length=MIN_CREDENTIAL_CHARS, max_length=4096)
    revision: int = Field(ge=0)

    @field_validator("value")
    @classmethod
    def _one_printable_word(cls, value: SecretStr) -> SecretStr:
        # One line of printable ASCII: it is written as a line and exported as a variable.
        if not all("!" <= c <= "~" for c in value.get_secret_value()):
            raise ValueError("must be printable ASCII without spaces or line breaks")
        return value


class ClaudeStatus(BaseModel):
    """Whether Claude Code can sign in here, and how (the first way it would use)."""

    signed_in: bool
    method: SignInMethod
    subscription: bool
    """``~/.claude/.credentials.json`` is there (Claude's own sign-in)."""
    stored_credential: CredentialKind | None = None
    """The credential the gateway delivered, if any (never its value)."""
    revision: int | None = None
    """The gateway's revision of the last credential change applied here."""
