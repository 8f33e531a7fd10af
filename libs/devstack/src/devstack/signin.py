"""Signing in to a local platform the way a person does, for the tests and the benchmarks:
from the mail (a real SMTP server's handler that keeps every mail), or, with no SMTP server
configured, from the link the gateway writes to its log."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from .waiting import eventually

__all__ = ["MailCatcher", "sign_in_from_log"]

_LINK = re.compile(r"https?://\S+/auth/verify\?token=[\w.\-%]+")


class MailCatcher:
    """An SMTP server's handler (give it to ``aiosmtpd.controller.Controller``) that keeps every
    message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._handed_out: dict[str, int] = {}

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def mails_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def next_link(self, address: str, timeout: float = 15) -> str:
        """The sign-in link of the next mail to ``address`` not handed out yet."""
        seen = self._handed_out.get(address, 0)

        def arrived() -> EmailMessage | None:
            mails = self.mails_to(address)
            return mails[seen] if len(mails) > seen else None

        mail: EmailMessage = await eventually(arrived, timeout=timeout, what=f"mail to {address}")
        self._handed_out[address] = seen + 1
        body = mail.get_body(("plain",))
        assert body is not None
        found = _LINK.search(body.get_content())
        assert found, body.get_content()
        return found.group(0)


async def sign_in_from_log(base_url: str, log: Path, email: str) -> str:
    """Ask for a link, take it from the gateway's log (no SMTP server configured), spend it as
    an API client; returns the session token."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/auth/login", json={"email": email})
        assert response.status_code == 202, response.text

        def link() -> str | None:
            for line in log.read_text(errors="replace").splitlines():
                found = _LINK.search(line)
                if found and email in line:
                    return found.group(0)
            return None

        found = await eventually(link, what=f"the sign-in link for {email}")
        token = httpx.URL(found).params["token"]
        verified = await client.post(
            "/auth/verify", json={"token": token}, headers={"Accept": "application/json"}
        )
        assert verified.status_code == 200, verified.text
        session: str = verified.json()["token"]
        return session
