"""Git credentials for the workstation, and its SSH key.

The other direction from the rest of this package: the agent calls the gateway. When git needs a
credential, the credential helper asks the agent (over the agent's local socket), and the agent
asks the gateway on the workstations' listener, authenticating with its own secret:

- ``GET /agent/instances/{instance_id}/git`` answers :class:`GitSetup`: the git provider's hosts,
  which the agent writes into the system-wide git configuration the image includes;
- ``POST /agent/instances/{instance_id}/git/credential`` takes a :class:`CredentialQuery` and
  answers a :class:`GitCredential` (a current token of the instance's owner, refreshed when it
  expires), or an error whose ``detail`` git shows the user (``GitNotConnected``: how to connect).

``GET /ssh-key`` (the agent's own API, called by the gateway) answers :class:`SshKey`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .credentials import WireSecret

__all__ = [
    "GIT_NOT_CONNECTED",
    "CredentialQuery",
    "GitCredential",
    "GitSetup",
    "SshKey",
]

GIT_NOT_CONNECTED = "GitNotConnected"
"""The ``error`` of the gateway's answer when the owner has no provider account connected."""


class GitSetup(BaseModel):
    """How the workstation's git should ask for credentials."""

    provider: str | None = None
    """The provider's name as people know it (``GitHub``); None: no provider is configured."""
    hosts: list[str] = []
    """Base URLs (``https://github.com``) whose credentials the helper answers for."""


class CredentialQuery(BaseModel):
    """What git asked the helper for (``git credential`` attributes), with no secret in it."""

    model_config = ConfigDict(extra="ignore")

    protocol: str = Field(max_length=20)
    host: str = Field(max_length=255)
    """The host, with ``:port`` when git's URL has one."""
    path: str | None = Field(default=None, max_length=1024)


class GitCredential(BaseModel):
    """A credential for git: sent in clear in the JSON body, masked in reprs and logs."""

    username: str
    password: WireSecret
    expires_at: datetime | None = None
    """When the token stops working, if it expires (git's ``password_expiry_utc``)."""


class SshKey(BaseModel):
    """The workstation's SSH public key (the private half never leaves ``~/.ssh``)."""

    public_key: str
    """One line, as ``~/.ssh/id_ed25519.pub`` holds it: paste it into the provider."""
    fingerprint: str
    """``SHA256:...``, as the provider shows it."""
    path: str
    """Where the private key is, relative to the home (``.ssh/id_ed25519``)."""
