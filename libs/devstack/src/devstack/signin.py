"""A real SMTP server's handler for tests and benchmarks: it keeps every mail, and hands out
the sign-in links in them the way a person would follow them."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support import eventually

__all__ = ["MailCatcher"]

_LINK = re.compile(r"https?://\S+/auth/verify\?token=[\w.\-%]+")


class MailCatcher:
    """An SMTP server's handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._handed_out: dict[str, int] = {}

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
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
