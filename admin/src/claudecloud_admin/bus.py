"""Dead letters (list, replay) and consumer lag, for teams without the NATS CLI.

Straight on the NATS client's JetStream API: the admin reads the ``DLQ`` stream by sequence
(``STREAM.MSG.GET``, no consumer is created), republishes a dead letter to the subject it failed
on and deletes it, and reads every durable consumer's state on ``CMD``, ``EVT`` and ``DLQ``.

A dead letter keeps the original body and headers plus ``Dlq-Original-Subject``, ``Dlq-Error``
and ``Dlq-Deliveries`` (see ``claudecloud_common.bus.DeadLetterMiddleware``). A replay sends the
original body and headers again with a new ``Nats-Msg-Id`` derived from the dead letter itself:
replaying the same dead letter twice (a crash between the publish and the delete) is dropped by
JetStream's duplicate window instead of running the command twice. Nothing printed carries a
header value or a body field that may hold a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, NoReturn, TypeVar
from urllib.parse import urlsplit
from uuid import UUID, uuid5

import typer
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.api import ConsumerInfo, RawStreamMsg
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from claudecloud_common.contracts.audit import AuditKind, Detail

from .audit import Act, recorded, user_of
from .display import age, error_text, preview, table
from .options import options

DLQ = "DLQ"
DLQ_PREFIX = "dlq."
STREAM_NAMES = ("CMD", "EVT", DLQ)
"""The streams ``claudecloud_common.bus.ensure_streams`` makes (commands, events, dead letters)."""
REPLAY_NAMESPACE = UUID("5d3f0e8a-8f0b-4c43-9b7e-2f4f6f7c1a90")
"""Replay message ids are ``uuid5`` of the dead letter's identity in this namespace."""
ERROR_CHARS = 72
TIMEOUT_SECONDS = 5.0

__all__ = ["DeadLetter", "dlq_filter", "redact_url", "register"]

dead_letters = typer.Typer(
    help="Messages a service gave up on (the DLQ stream): list them, replay them.",
    no_args_is_help=True,
)

T = TypeVar("T")


class BusUnreachable(Exception):
    """The bus did not answer; the message is safe to print (no credentials)."""


def register(app: typer.Typer) -> None:
    """Add ``dead-letters list|replay`` and ``lag`` to ``app``."""
    app.add_typer(dead_letters, name="dead-letters")
    app.command("lag")(lag)


# Commands


@dead_letters.command("list")
def list_dead_letters(
    ctx: typer.Context,
    subject: Annotated[
        str | None,
        typer.Option(help="Only those that failed on this subject (wildcards allowed: cmd.>)"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, oldest first")] = 50,
) -> None:
    """Sequence, original subject, deliveries, error, age and a body preview of each."""
    letters, more = _run(ctx, lambda js: _dead_letters_from(js, subject, limit))
    if not letters:
        typer.echo("no dead letters" + (f" on {subject}" if subject else ""))
        return
    now = datetime.now(UTC)
    rows = [
        (
            str(letter.seq),
            letter.original_subject,
            letter.deliveries,
            age(now, letter.time),
            error_text(letter.error, ERROR_CHARS),
            preview(letter.body),
        )
        for letter in letters
    ]
    table(("SEQ", "SUBJECT", "DELIVERIES", "AGE", "ERROR", "BODY"), rows)
    if more:
        typer.echo(f"... and more: raise --limit (showing {len(letters)})")


@dead_letters.command("replay")
def replay_dead_letters(
    ctx: typer.Context,
    sequences: Annotated[
        list[int] | None, typer.Argument(help="DLQ sequence numbers (from `list`)")
    ] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="Every dead letter (narrowed by --subject)")
    ] = False,
    subject: Annotated[
        str | None, typer.Option(help="With --all: only those that failed on this subject")
    ] = None,
) -> None:
    """Send dead letters again to the subject they failed on, then delete them from the DLQ.

    Fix what made them fail first: a message that fails again is dead-lettered again.
    """
    if bool(sequences) == replay_all:
        _fail("name the dead letters to replay (SEQ ...) or pass --all, not both")
    if subject and not replay_all:
        _fail("--subject narrows --all; with sequence numbers, name only those")
    outcomes = _run(ctx, lambda js: _replay(js, sequences or [], subject))
    if not outcomes:
        typer.echo("no dead letters" + (f" on {subject}" if subject else ""))
        return
    for outcome in outcomes:
        typer.echo(outcome.line())
    acts = [_replayed(o) for o in outcomes if o.ok and not o.duplicate]
    recorded(options(ctx).nats_urls, options(ctx).operator, acts)
    replayed = sum(1 for o in outcomes if o.ok)
    typer.echo(f"replayed {replayed} of {len(outcomes)}")
    if replayed < len(outcomes):
        raise typer.Exit(1)


def lag(ctx: typer.Context) -> None:
    """Every durable consumer on CMD, EVT and DLQ: pending, awaiting ack, redelivered, last active.

    A consumer with a growing PENDING is falling behind; a steady ACK PENDING with REDELIVERED
    rising is failing and retrying (see `dead-letters list`).
    """
    streams = _run(ctx, _read_consumers)
    now = datetime.now(UTC)
    rows = []
    held = []
    for stream in streams:
        if stream.consumers is None:
            rows.append((stream.name, "(no such stream)", "", "", "", ""))
            continue
        held.append(f"{stream.name} {stream.messages}")
        rows.extend(
            (
                stream.name,
                info.name,
                str(info.num_pending or 0),
                str(info.num_ack_pending or 0),
                str(info.num_redelivered or 0),
                age(now, info.delivered.last_active if info.delivered else None),
            )
            for info in stream.consumers
        )
    table(("STREAM", "CONSUMER", "PENDING", "ACK PENDING", "REDELIVERED", "LAST ACTIVE"), rows)
    typer.echo(f"messages held: {', '.join(held)} (dead letters: `dead-letters list`)")


# Reading and replaying


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    original_subject: str
    deliveries: str
    error: str
    time: datetime | None
    body: bytes
    headers: dict[str, str]
    message_id: str | None

    @classmethod
    def of(cls, raw: RawStreamMsg) -> DeadLetter:
        headers = {str(k): str(v) for k, v in (raw.headers or {}).items()}
        subject = raw.subject or ""
        return cls(
            seq=raw.seq or 0,
            original_subject=headers.get("Dlq-Original-Subject")
            or subject.removeprefix(DLQ_PREFIX),
            deliveries=headers.get("Dlq-Deliveries", "?"),
            error=headers.get("Dlq-Error", ""),
            time=raw.time,
            body=raw.data or b"",
            headers=headers,
            message_id=headers.get("Nats-Msg-Id"),
        )

    def replay_id(self) -> str:
        """The same for every replay of this dead letter (JetStream drops the second)."""
        identity = f"{DLQ}:{self.seq}:{self.message_id or ''}:{self.original_subject}"
        return f"replay-{uuid5(REPLAY_NAMESPACE, identity)}"

    def replay_headers(self) -> dict[str, str]:
        """The original headers (correlation id, trace context, ...) and the replay's id."""
        kept = {
            name: value
            for name, value in self.headers.items()
            if not name.startswith(("Dlq-", "Nats-"))
        }
        return {**kept, "Nats-Msg-Id": self.replay_id()}


@dataclass(frozen=True)
class Outcome:
    seq: int
    subject: str = ""
    message_id: str = ""
    problem: str | None = None
    duplicate: bool = False
    body: bytes = b""
    """What was replayed (the audit record names whose it was)."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        if self.problem:
            return f"#{self.seq}: not replayed: {self.problem}"
        again = " (already sent by an earlier replay: not sent twice)" if self.duplicate else ""
        return f"#{self.seq}: replayed to {self.subject} as {self.message_id}{again}"


def dlq_filter(subject: str | None) -> str:
    """The DLQ subject for an original subject filter (``cmd.>`` → ``dlq.cmd.>``)."""
    if not subject:
        return f"{DLQ_PREFIX}>"
    return subject if subject.startswith(DLQ_PREFIX) else f"{DLQ_PREFIX}{subject}"


async def _dead_letters_from(
    js: JetStreamContext, subject: str | None, limit: int | None
) -> tuple[list[DeadLetter], bool]:
    """Dead letters in sequence order, at most ``limit``; and whether more were left."""
    info = await js.stream_info(DLQ)
    found: list[DeadLetter] = []
    seq, last = info.state.first_seq, info.state.last_seq
    while seq and seq <= last:
        try:
            raw = await js.get_msg(DLQ, seq=seq, subject=dlq_filter(subject), next=True)
        except NotFoundError:
            break
        if raw.seq is None or raw.seq > last:
            break
        if limit is not None and len(found) == limit:
            return found, True
        found.append(DeadLetter.of(raw))
        seq = raw.seq + 1
    return found, False


async def _replay(
    js: JetStreamContext, sequences: Sequence[int], subject: str | None
) -> list[Outcome]:
    if sequences:
        letters: list[DeadLetter | int] = []
        for seq in sequences:
            try:
                letters.append(DeadLetter.of(await js.get_msg(DLQ, seq=seq)))
            except NotFoundError:
                letters.append(seq)
    else:
        # Every one there now: what fails again while we replay is not replayed in a loop.
        letters = list((await _dead_letters_from(js, subject, None))[0])
    return [
        Outcome(letter, problem="no such dead letter (replayed already?)")
        if isinstance(letter, int)
        else await _replay_one(js, letter)
        for letter in letters
    ]


async def _replay_one(js: JetStreamContext, letter: DeadLetter) -> Outcome:
    target = letter.original_subject
    if not target or target.startswith(DLQ_PREFIX):
        return Outcome(letter.seq, problem=f"no original subject to replay to ({target!r})")
    message_id = letter.replay_id()
    try:
        ack = await js.publish(target, letter.body, headers=letter.replay_headers())
    except NatsError as exc:
        return Outcome(letter.seq, target, problem=f"{target} did not accept it ({exc})")
    await js.delete_msg(DLQ, letter.seq)
    return Outcome(letter.seq, target, message_id, duplicate=bool(ack.duplicate), body=letter.body)


def _replayed(outcome: Outcome) -> Act:
    """The audit record of one replay, on the chain of the user its message concerns."""
    user_id, instance_id = user_of(outcome.body)
    detail: Detail = {
        "subject": outcome.subject,
        "dlq_seq": outcome.seq,
        "replay_id": outcome.message_id,
    }
    return Act(AuditKind.DEAD_LETTER_REPLAYED, detail, user_id=user_id, instance_id=instance_id)


@dataclass(frozen=True)
class StreamConsumers:
    name: str
    messages: int = 0
    consumers: list[ConsumerInfo] | None = None
    """None when the stream does not exist."""


async def _read_consumers(js: JetStreamContext) -> list[StreamConsumers]:
    found: list[StreamConsumers] = []
    for stream in STREAM_NAMES:
        try:
            info = await js.stream_info(stream)
            consumers = await js.consumers_info(stream)
        except NotFoundError:
            found.append(StreamConsumers(stream))
            continue
        ordered = sorted(consumers, key=lambda c: c.name)
        found.append(StreamConsumers(stream, info.state.messages, ordered))
    return found


# Connection and output


def _run(ctx: typer.Context, work: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    """Connect to the bus, do ``work`` on JetStream, disconnect; one line and exit 1 on failure."""
    urls = options(ctx).nats_urls
    try:
        return asyncio.run(_with_jetstream(urls, work))
    except BusUnreachable as exc:
        _fail(str(exc))
    except NotFoundError:
        _fail(f"no {DLQ} stream on this bus yet (it is made when a service starts)")
    except (NatsError, TimeoutError, OSError) as exc:
        _fail(f"the bus answered with an error: {type(exc).__name__}: {exc}")


async def _with_jetstream(urls: list[str], work: Callable[[JetStreamContext], Awaitable[T]]) -> T:
    client = NatsClient()
    try:
        await client.connect(
            servers=urls,
            name="claude-cloud-admin",
            connect_timeout=int(TIMEOUT_SECONDS),
            allow_reconnect=False,
            max_reconnect_attempts=1,  # each server once (0 would try them forever)
            reconnect_time_wait=1,
            error_cb=_quiet,  # the client's default prints a traceback per server tried
        )
    except Exception as exc:  # NoServersError, timeouts, refused: all mean the same here
        where = ", ".join(redact_url(url) for url in urls)
        raise BusUnreachable(f"cannot reach the bus at {where}") from exc
    try:
        return await work(client.jetstream(timeout=TIMEOUT_SECONDS))
    finally:
        await client.close()


async def _quiet(_error: Exception) -> None:
    """Errors surface as the exception ``connect`` raises, said once in :func:`_run`."""


def redact_url(url: str) -> str:
    """``url`` without any user or password in it."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
