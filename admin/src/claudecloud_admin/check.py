"""``claude-cloud-admin check``: does every service's record agree with reality?

Each service answers ``rpc.ops.check.<service>`` for its own records (it compares them with its
vendor and, over the bus, with the service they depend on; ``--fix`` has it apply its safe
corrections, announced as events through its outbox). This command never reads a database: it
asks every service at once, counts dead letters by subject from the DLQ stream, and prints one
table. A service that does not answer within the deadline is a finding, never a hang. The exit
status is 0 only when every count is zero (with ``--fix``: when nothing is left).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

import nats
import typer
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from claudecloud_common.contracts.audit import AuditKind, Detail
from claudecloud_common.contracts.ops import (
    CHECKED_SERVICES,
    SAMPLES,
    CheckReport,
    DriftKind,
    Finding,
    check_query,
)
from claudecloud_common.contracts.providers import needs_mesh
from claudecloud_common.errors import UnavailableError
from claudecloud_common.rpc import NobodyAnswers, RemoteError, UnexpectedReply, request_on

from .audit import Act, recorded
from .options import options


@dataclass
class Row:
    kind: str
    service: str
    count: int
    fixed: int = 0
    fixable: bool = False
    samples: list[str] = field(default_factory=list)
    detail: str | None = None
    absent: bool = False
    """Nobody answers its check at all (not a timeout): expected of netbird without a mesh."""

    @property
    def left(self) -> int:
        return max(0, self.count - self.fixed)


@dataclass
class Outcome:
    """What the check found across the platform."""

    rows: list[Row]
    notes: list[str]
    fixing: bool

    @property
    def clean(self) -> bool:
        return all((row.left if self.fixing else row.count) == 0 for row in self.rows)


async def ask(nc: NatsClient, service: str, fix: bool, timeout: float) -> CheckReport | Row:
    """One service's report, or the row saying why there is none."""
    try:
        return await request_on(nc, check_query(service, fix=fix), timeout=timeout)
    except NobodyAnswers:
        return _unanswered(service, "not running (nobody answers its check)", absent=True)
    except RemoteError as exc:
        return _unanswered(service, f"failed while checking: {exc.detail}")
    except UnavailableError as exc:
        cause = type(exc.__cause__).__name__
        return _unanswered(service, f"no answer within {timeout:g}s ({cause})")
    except UnexpectedReply:
        return _unanswered(service, "answered with something that is not a check report")


def _unanswered(service: str, detail: str, *, absent: bool = False) -> Row:
    kind = DriftKind.SERVICE_UNANSWERED.value
    return Row(kind, service, 1, samples=[service], detail=detail, absent=absent)


async def dead_letters(nc: NatsClient) -> list[Row]:
    """Dead letters per original subject, counted by the DLQ stream itself."""
    try:
        info = await nc.jetstream().stream_info("DLQ", subjects_filter="dlq.>")
    except NotFoundError:
        return []
    subjects = info.state.subjects or {}
    return [
        Row(DriftKind.DEAD_LETTERS.value, subject.removeprefix("dlq."), count)
        for subject, count in sorted(subjects.items())
        if count
    ]


async def run_check(urls: list[str], *, fix: bool, timeout: float) -> Outcome:
    """Ask every service and the DLQ stream; the findings as rows."""
    nc = await nats.connect(servers=urls, connect_timeout=5, max_reconnect_attempts=1)
    try:
        # Fixing, the provisioner goes first: the others compare with its instances, so they
        # should see them corrected (otherwise a fix on each side races the event between them).
        first: tuple[str, ...] = ("provisioner",) if fix else ()
        rest = [s for s in CHECKED_SERVICES if s not in first]
        answers = [await ask(nc, s, fix, timeout) for s in first]
        answers += await asyncio.gather(*(ask(nc, s, fix, timeout) for s in rest))
        letters = await dead_letters(nc)
    finally:
        await nc.close()
    return _combine(dict(zip([*first, *rest], answers, strict=True)), letters, fix)


def _combine(answers: dict[str, CheckReport | Row], letters: list[Row], fix: bool) -> Outcome:
    rows: list[Row] = []
    notes: list[str] = []
    reports = {s: a for s, a in answers.items() if isinstance(a, CheckReport)}
    provider = reports["provisioner"].notes.get("provider") if "provisioner" in reports else None
    for service, answer in answers.items():
        if isinstance(answer, Row):
            if service == "netbird" and answer.absent and not needs_mesh(provider):
                notes.append(f"netbird: not running (provider {provider}: no mesh to check)")
                continue
            rows.append(answer)
            continue
        rows += [_row(service, f) for f in answer.findings]
        backlog = answer.outbox
        age = f"oldest {backlog.oldest_age_seconds:g}s" if backlog.oldest_age_seconds else ""
        rows.append(
            Row(
                DriftKind.OUTBOX_BACKLOG.value,
                service,
                backlog.stale,
                samples=[f"{backlog.rows} rows {age}".strip()] if backlog.rows else [],
            )
        )
        notes += [f"{service}: {key} {value}" for key, value in sorted(answer.notes.items())]
    rows += letters or [Row(DriftKind.DEAD_LETTERS.value, "bus", 0)]
    return Outcome(rows, notes, fix)


def _row(service: str, found: Finding) -> Row:
    return Row(
        found.kind.value,
        service,
        found.count,
        found.fixed,
        found.fixable,
        list(found.samples),
        found.detail,
    )


def render(outcome: Outcome) -> str:
    """The one table (kind, service, count, fixed, samples), then notes and what was left."""
    header = ("KIND", "SERVICE", "COUNT", "FIXED", "SAMPLES")
    lines = [
        (r.kind, r.service, str(r.count), str(r.fixed) if r.fixable else "-", _samples(r))
        for r in outcome.rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(4)]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True))
        + "  "
        + line[4]
        for line in [header, *lines]
    ]
    text += [f"note: {note}" for note in outcome.notes]
    left = [r for r in outcome.rows if r.left]
    if outcome.fixing and left:
        text.append("left for a person:")
        text += [
            f"  {r.kind} ({r.service}): {r.left}" + (f" ({r.detail})" if r.detail else "")
            for r in left
        ]
    elif not outcome.fixing:
        for row in outcome.rows:
            if row.count and row.detail:
                text.append(f"{row.kind} ({row.service}): {row.detail}")
    text.append("clean" if outcome.clean else "DRIFT FOUND")
    return "\n".join(line.rstrip() for line in text)


def _samples(row: Row) -> str:
    shown = ", ".join(row.samples[:SAMPLES])
    more = row.count - len(row.samples[:SAMPLES])
    return (
        f"{shown} (+{more} more)" if shown and more > 0 and row.kind != "outbox_backlog" else shown
    )


def _fixed(outcome: Outcome) -> Act:
    """The audit record of a ``check --fix``: what it corrected and what it left, on the
    platform's own chain."""
    fixed = [r for r in outcome.rows if r.fixed]
    kinds = ",".join(f"{r.service}/{r.kind}={r.fixed}" for r in fixed)
    detail: Detail = {
        "fixed": sum(r.fixed for r in fixed),
        "left": sum(r.left for r in outcome.rows),
        "kinds": kinds[:1000] or None,
    }
    return Act(AuditKind.CHECK_FIXED, detail)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.hostname else "?"


def as_json(outcome: Outcome) -> str:
    return json.dumps(
        {
            "clean": outcome.clean,
            "rows": [
                {
                    "kind": r.kind,
                    "service": r.service,
                    "count": r.count,
                    "fixed": r.fixed,
                    "samples": r.samples,
                    "detail": r.detail,
                }
                for r in outcome.rows
            ],
            "notes": outcome.notes,
        },
        indent=2,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command()
    def check(
        ctx: typer.Context,
        fix: Annotated[
            bool, typer.Option("--fix", help="apply the safe corrections and list what is left")
        ] = False,
        timeout: Annotated[
            float, typer.Option("--timeout", min=0.1, help="seconds each service has to answer")
        ] = 30.0,
        output_json: Annotated[bool, typer.Option("--json", help="the findings as JSON")] = False,
    ) -> None:
        """Compare every service's records with reality; exit 0 only when nothing drifted."""
        urls = options(ctx).nats_urls
        try:
            outcome = asyncio.run(run_check(urls, fix=fix, timeout=timeout))
        except (NatsError, OSError, TimeoutError) as exc:
            where = ", ".join(_without_credentials(url) for url in urls)
            typer.echo(f"error: the bus at {where} did not answer ({type(exc).__name__})", err=True)
            raise typer.Exit(1) from None
        if fix:
            recorded(urls, options(ctx).operator, [_fixed(outcome)])
        typer.echo(as_json(outcome) if output_json else render(outcome))
        raise typer.Exit(0 if outcome.clean else 1)
