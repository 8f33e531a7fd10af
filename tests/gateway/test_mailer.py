"""A sign-in mail goes to exactly one mailbox, named to the SMTP server explicitly (issue 14,
finding 6)."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.auth.mailer import SmtpMailer
from gateway.settings import GatewaySettings
from tests.support import free_port

LINK = "http://localhost:8000/auth/verify?token=abc"


class Kept:
    """An SMTP handler that keeps each mail's envelope recipients and its To header."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], str]] = []

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = message_from_bytes(raw, policy=policy.default)
        self.mails.append((list(envelope.rcpt_tos), str(message["To"])))
        return "250 Message accepted for delivery"


@pytest.fixture
def server() -> Iterator[tuple[Kept, int]]:
    kept = Kept()
    port = free_port()
    controller = Controller(kept, hostname="127.0.0.1", port=port)
    controller.start()
    yield kept, port
    controller.stop()


def _mailer(port: int) -> SmtpMailer:
    return SmtpMailer(
        GatewaySettings(
            jwt_secret="s" * 40,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=False,
            smtp_sender="ClaudeCloud <sign-in@claudecloud.example>",
        )
    )


async def test_one_mail_one_recipient(server: tuple[Kept, int]) -> None:
    kept, port = server
    await _mailer(port).send_magic_link("ada@example.com", LINK)
    assert kept.mails == [(["ada@example.com"], "ada@example.com")]


@pytest.mark.parametrize(
    "several",
    [
        "victim@example.com,postmaster,root",
        "victim@example.com, root@example.com",
        "Victim <victim@example.com>, root@example.com",
        "victim@example.com\r\nBcc: root@example.com",
        "victim@example.com;root@example.com",
    ],
)
async def test_anything_but_one_address_is_not_sent(server: tuple[Kept, int], several: str) -> None:
    kept, port = server
    with pytest.raises(ValueError, match="one address"):
        await _mailer(port).send_magic_link(several, LINK)
    assert kept.mails == []
