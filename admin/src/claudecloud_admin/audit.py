"""``claude-cloud-admin audit``: read anyone's audit log, verify the chains, and record what
operators themselves do (a dead-letter replay, ``check --fix``).

The audit service answers (``rpc.audit.list``, ``rpc.audit.verify``); nothing here reads a
database. An operator's own acts are published as ``evt.audit.recorded`` like every service's,
on the chain of the user they concern (a replayed message's ``user_id``, or its instance's owner
as the provisioner says) or on the platform's own chain; the operator is named by ``--operator``
(``CLAUDECLOUD_OPERATOR``; by default the local login and host).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, NoReturn, TypeVar
from uuid import UUID

import nats
import typer
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError

from claudecloud_common.contracts.audit import (
    Actor,
    ActorKind,
    AuditKind,
    AuditRecorded,
    AuditRecordView,
    AuditVerification,
    Detail,
    ListAudit,
    VerifyAudit,
)
from claudecloud_common.contracts.ops import GetInstanceFacts
from claudecloud_common.errors import UnavailableError
from claudecloud_common.rpc import RemoteError, UnexpectedReply, request_on

from .display import clip, table
from .options import options

__all__ = ["Act", "record_acts", "recorded", "register", "user_of"]

T = TypeVar("T")
PAGE = 500
DETAIL_CHARS = 60

audit = typer.Typer(
    help="The audit log: anyone's records (newest first), and `verify` to check the chains.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    """Add ``audit`` (and ``audit verify``) to ``app``."""
    app.add_typer(audit, name="audit")


@audit.callback()
def show(
    ctx: typer.Context,
    user: Annotated[UUID | None, typer.Option("--user", help="Only this user's records")] = None,
    platform: Annotated[
        bool, typer.Option("--platform", help="Only the platform's own chain (no user)")
    ] = False,
    kind: Annotated[
        list[AuditKind] | None, typer.Option("--kind", help="Only these kinds (repeat it)")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="Only what happened at or after this")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--until", help="Only what happened before this")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many (--json: every one)")
    ] = 50,
    output_json: Annotated[
        bool, typer.Option("--json", help="Every matching record as JSON lines (an export)")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1)] = 30.0,
) -> None:
    """Anyone's audit records, newest first: who did what, from where, to whose instance."""
    if ctx.invoked_subcommand is not None:
        return
    query = ListAudit(
        user_id=user,
        platform=platform,
        kinds=kind or [],
        since=_utc(since),
        until=_utc(until),
        limit=min(limit, PAGE) if not output_json else PAGE,
    )
    everything = output_json
    records = _ask(ctx, lambda nc: _records(nc, query, None if everything else limit, timeout))
    if output_json:
        for record in records:
            typer.echo(record.model_dump_json())
        return
    if not records:
        typer.echo("no audit records")
        return
    table(
        ("WHEN", "USER", "KIND", "ACTOR", "FROM", "INSTANCE", "OUTCOME", "DETAIL"), _rows(records)
    )


@audit.command("verify")
def verify(
    ctx: typer.Context,
    user: Annotated[UUID | None, typer.Option("--user", help="Only this user's chain")] = None,
    platform: Annotated[
        bool, typer.Option("--platform", help="Only the platform's own chain")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1)] = 300.0,
    output_json: Annotated[bool, typer.Option("--json", help="The findings as JSON")] = False,
) -> None:
    """Walk the chains (one user's, or everyone's) and name every record edited or deleted;
    exit 0 only when every chain is intact."""
    query = VerifyAudit(user_id=user, platform=platform)
    found = _ask(ctx, lambda nc: request_on(nc, query, timeout=timeout))
    if output_json:
        typer.echo(found.model_dump_json(indent=2))
    else:
        typer.echo(_verdict(found))
    raise typer.Exit(1 if found.broken else 0)


def _verdict(found: AuditVerification) -> str:
    lines = []
    for report in found.reports:
        owner = str(report.user_id) if report.user_id else "platform"
        where = f"records {report.first_seq}-{report.last_seq}" if report.records else "empty"
        anchor = f", after the anchor at {report.anchor_seq}" if report.anchor_seq else ""
        state = "intact" if report.intact else f"{len(report.problems)} problem(s)"
        lines.append(f"{owner}: {report.records} records ({where}{anchor}): {state}")
        lines += [f"  {p.problem}: {p.detail}" for p in report.problems]
    total = f"{found.chains} chain(s), {found.records} record(s) walked"
    lines.append(f"{total}: {found.broken} broken" if found.broken else f"{total}: all intact")
    return "\n".join(lines)


async def _records(
    nc: NatsClient, query: ListAudit, limit: int | None, timeout: float
) -> list[AuditRecordView]:
    found: list[AuditRecordView] = []
    while True:
        page = await request_on(nc, query, timeout=timeout)
        found += page.items
        if page.next_before is None or (limit is not None and len(found) >= limit):
            return found[:limit] if limit is not None else found
        query = query.model_copy(update={"before": page.next_before})


def _rows(records: list[AuditRecordView]) -> list[tuple[str, ...]]:
    return [
        (
            r.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            str(r.user_id) if r.user_id else "platform",
            r.kind.value,
            f"{r.actor.kind.value}:{r.actor.id}" if r.actor.id else r.actor.kind.value,
            (r.origin.address or "-") if r.origin else "-",
            str(r.instance_id)[:8] if r.instance_id else "-",
            r.outcome.value,
            clip(" ".join(f"{k}={v}" for k, v in sorted(r.detail.items())), DETAIL_CHARS),
        )
        for r in records
    ]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# Operators' own acts


@dataclass(frozen=True)
class Act:
    """Something an operator did, to record: about a user (``user_id``), or about whatever
    ``instance_id`` belongs to, or about the platform (neither)."""

    kind: AuditKind
    detail: Detail
    user_id: UUID | None = None
    instance_id: UUID | None = None


async def record_acts(nc: NatsClient, operator: str, acts: list[Act]) -> None:
    """Publish each act as ``evt.audit.recorded`` (durably: JetStream's acknowledgement)."""
    owners = await _owners(nc, [a.instance_id for a in acts if a.user_id is None and a.instance_id])
    js = nc.jetstream()
    for act in acts:
        event = AuditRecorded(
            user_id=act.user_id or (owners.get(act.instance_id) if act.instance_id else None),
            kind=act.kind,
            actor=Actor(kind=ActorKind.OPERATOR, id=operator[:200]),
            instance_id=act.instance_id,
            detail=act.detail,
        )
        await js.publish(
            str(event.subject),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(event.id), "content-type": "application/json"},
        )


async def _owners(nc: NatsClient, instance_ids: list[UUID]) -> dict[UUID, UUID]:
    """Whose each instance is, as the provisioner says (none known when it does not answer)."""
    if not instance_ids:
        return {}
    try:
        facts = await request_on(nc, GetInstanceFacts(instance_ids=instance_ids), timeout=5.0)
    except (UnavailableError, RemoteError, UnexpectedReply):
        return {}
    return {fact.instance_id: fact.user_id for fact in facts.items}


def recorded(urls: list[str], operator: str, acts: list[Act]) -> None:
    """Record ``acts`` on a connection of their own; a failure is said, not fatal (the acts
    themselves happened)."""
    if not acts:
        return

    async def run() -> None:
        nc = await nats.connect(servers=urls, connect_timeout=5, max_reconnect_attempts=1)
        try:
            await record_acts(nc, operator, acts)
        finally:
            await nc.close()

    try:
        asyncio.run(run())
    except (NatsError, OSError, TimeoutError) as exc:
        typer.echo(
            f"warning: not recorded in the audit log ({type(exc).__name__}): record it by hand",
            err=True,
        )


def user_of(body: bytes) -> tuple[UUID | None, UUID | None]:
    """The ``user_id`` and ``instance_id`` a message body names, if it is JSON that does."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    return _uuid(data.get("user_id")), _uuid(data.get("instance_id"))


def _uuid(value: object) -> UUID | None:
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


# Connection


def _ask(ctx: typer.Context, work: Callable[[NatsClient], Awaitable[T]]) -> T:
    urls = options(ctx).nats_urls

    async def run() -> T:
        nc = await nats.connect(servers=urls, connect_timeout=5, max_reconnect_attempts=1)
        try:
            return await work(nc)
        finally:
            await nc.close()

    try:
        return asyncio.run(run())
    except RemoteError as exc:
        _fail(f"the audit service refused: {exc.detail}")
    except UnavailableError as exc:
        _fail(f"the audit service did not answer: {exc.detail}")
    except (NatsError, OSError, TimeoutError) as exc:
        _fail(f"the bus did not answer ({type(exc).__name__})")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
