"""An SMTP catcher for a stack without a mail server (the compose file's ``mail`` profile).

Accepts every mail on ``SMTP_PORT`` (default 1025; plain SMTP, no TLS and no authentication, as
MailHog and Mailpit do) and keeps the last ``KEEP`` in memory. ``GET /messages`` on ``HTTP_PORT``
(default 8025) returns them as JSON (``from``, ``to``, ``subject``, ``text``), newest last;
``GET /healthz`` answers ``ok``. Only the standard library: it runs from the service image.
A mail's content is never logged (sign-in links are in it); only that one arrived.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import deque
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

KEEP = int(os.environ.get("KEEP", "1000"))
MAILS: deque[dict[str, Any]] = deque(maxlen=KEEP)
MAX_LINE = 1 << 20


def log(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def keep(sender: str, recipients: list[str], data: bytes) -> None:
    message = message_from_bytes(data, policy=policy.default)
    text = ""
    if isinstance(message, EmailMessage):
        body = message.get_body(("plain", "html"))
        text = body.get_content() if body is not None else ""
    MAILS.append(
        {"from": sender, "to": recipients, "subject": str(message["Subject"] or ""), "text": text}
    )
    log("mail.caught", recipients=len(recipients), kept=len(MAILS))


def address(argument: str) -> str:
    """The address of ``FROM:<a@b> SIZE=...`` or ``TO:<a@b>``, without its parameters."""
    path = argument.partition(":")[2].strip()
    return path[1 : path.find(">")] if path.startswith("<") else path.split(" ")[0]


async def read_data(reader: asyncio.StreamReader) -> bytes:
    """The DATA section up to the lone ``.``, dot-unstuffed (RFC 5321 4.5.2)."""
    lines = []
    while True:
        line = await reader.readline()
        if not line or line.rstrip(b"\r\n") == b".":
            return b"".join(lines)
        lines.append(line[1:] if line.startswith(b"..") else line)


async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    def reply(text: str) -> None:
        writer.write(f"{text}\r\n".encode())

    sender, recipients = "", []
    reply("220 mail-catcher ESMTP ready")
    try:
        while line := await reader.readline():
            command, _, argument = line.decode(errors="replace").strip().partition(" ")
            verb = command.upper()
            if verb == "EHLO":
                reply("250-mail-catcher\r\n250-8BITMIME\r\n250 SIZE 10485760")
            elif verb in ("HELO", "NOOP"):
                reply("250 OK")
            elif verb == "RSET":
                sender, recipients = "", []
                reply("250 OK")
            elif verb == "MAIL":
                sender, recipients = address(argument), []
                reply("250 OK")
            elif verb == "RCPT":
                recipients.append(address(argument))
                reply("250 OK")
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                await writer.drain()
                keep(sender, recipients, await read_data(reader))
                reply("250 OK: kept")
            elif verb == "QUIT":
                reply("221 Bye")
                break
            else:
                reply("502 Command not implemented")
            await writer.drain()
    finally:
        await writer.drain()
        writer.close()


async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.readline()
    while (await reader.readline()).strip():  # the headers: nothing in them matters here
        pass
    path = request.decode(errors="replace").split(" ")[1] if request.count(b" ") >= 2 else ""
    if path == "/messages":
        status, body = "200 OK", json.dumps(list(MAILS)).encode()
    elif path == "/healthz":
        status, body = "200 OK", b'{"status": "ok"}'
    else:
        status, body = "404 Not Found", b'{"error": "NotFound"}'
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    writer.close()


async def main() -> None:
    smtp_port = int(os.environ.get("SMTP_PORT", "1025"))
    http_port = int(os.environ.get("HTTP_PORT", "8025"))
    servers = [
        await asyncio.start_server(smtp, "0.0.0.0", smtp_port, limit=MAX_LINE),  # noqa: S104
        await asyncio.start_server(http, "0.0.0.0", http_port),  # noqa: S104
    ]
    log("mail_catcher.started", smtp_port=smtp_port, http_port=http_port)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
