"""How a magic link (or a notice) reaches its owner: SMTP (aiosmtplib) in production, the log in
development.

The mail is sent after the request's transaction committed, so a link never names a user the
database does not have.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from claudecloud_common.logging import get_logger

from ..settings import GatewaySettings
from .service import normalise_email

log = get_logger(__name__)

SUBJECT = "Your ClaudeCloud sign-in link"
BODY = """\
Hello,

Open this link to sign in to ClaudeCloud:

    {link}

It works once and expires in {minutes} minutes. If you did not ask to sign in, ignore this
message: nobody can sign in without the link.
"""


class Mailer(Protocol):
    async def send_magic_link(self, to: str, link: str) -> None: ...

    async def send_notice(self, to: str, subject: str, text: str) -> None:
        """A plain-text notice about the user's account (a webhook endpoint disabled, ...)."""
        ...


class SmtpMailer:
    """Sends through the configured SMTP server (STARTTLS or implicit TLS, optional login)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings

    async def send_magic_link(self, to: str, link: str) -> None:
        """Mail ``link`` to the one address ``to``; ValueError (nothing sent) for anything
        else. The SMTP server is told the recipient, never left to read it from a header."""
        minutes = self.settings.magic_link_ttl_seconds // 60
        await self._send(to, SUBJECT, BODY.format(link=link, minutes=minutes))
        log.info("auth.magic_link.sent")

    async def send_notice(self, to: str, subject: str, text: str) -> None:
        """Mail a notice to the one address ``to`` (as a link is mailed)."""
        await self._send(to, subject, text)
        log.info("mail.notice.sent")

    async def _send(self, to: str, subject: str, text: str) -> None:
        s = self.settings
        recipient = _one_address(to)
        message = EmailMessage()
        message["From"] = s.smtp_sender
        message["To"] = recipient
        message["Subject"] = subject
        message.set_content(text)
        await aiosmtplib.send(
            message,
            recipients=[recipient],
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls and not s.smtp_tls,
            use_tls=s.smtp_tls,
            timeout=s.smtp_timeout_seconds,
        )


def _one_address(to: str) -> str:
    try:
        address = normalise_email(to)
    except ValueError:
        address = None
    if address != to:  # a list, a display name, a header break, or not yet normalised
        raise ValueError("a sign-in mail goes to exactly one address, normalised")
    return address


class LogMailer:
    """Development only: no SMTP server configured, so the link is written to the log."""

    async def send_magic_link(self, to: str, link: str) -> None:
        log.warning("auth.magic_link.logged", to=to, link=link, reason="SMTP_HOST is not set")

    async def send_notice(self, to: str, subject: str, text: str) -> None:
        log.warning("mail.notice.logged", to=to, subject=subject, text=text)


def make_mailer(settings: GatewaySettings) -> Mailer:
    return SmtpMailer(settings) if settings.smtp_host else LogMailer()


async def deliver(mailer: Mailer, to: str, link: str) -> None:
    """Send after the response; a failure is logged (the user can ask for another link)."""
    try:
        await mailer.send_magic_link(to, link)
    except Exception as exc:
        log.error("auth.magic_link.send_failed", error=f"{type(exc).__name__}: {exc}")
