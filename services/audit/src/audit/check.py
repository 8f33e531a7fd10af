"""The audit service's part of the reconciliation check: chains with a record edited or deleted
(nothing to fix: a person reads ``claude-cloud-admin audit verify``), and its outbox's backlog."""

from __future__ import annotations

from faststream.nats import NatsBroker

from claudecloud_common.checks import finding, outbox_backlog
from claudecloud_common.contracts.audit import VerifyAudit
from claudecloud_common.contracts.ops import CheckAudit, CheckReport, DriftKind
from claudecloud_common.db import Database
from claudecloud_common.rpc import rpc_reply, rpc_subscriber

from .metrics import BROKEN_CHAINS
from .service import AuditService
from .settings import AuditSettings


class AuditCheck:
    def __init__(self, db: Database, settings: AuditSettings) -> None:
        self.db = db
        self.settings = settings

    async def run(self) -> CheckReport:
        """Every chain walked; the broken ones named by their user (``platform``: its own)."""
        async with self.db.read() as session:
            found = await AuditService(session).verify(
                VerifyAudit(), batch=self.settings.verify_batch
            )
            backlog = await outbox_backlog(session, self.settings)
        BROKEN_CHAINS.set(found.broken)
        broken = [str(r.user_id) if r.user_id else "platform" for r in found.reports]
        detail = "claude-cloud-admin audit verify --user ID names each record"
        return CheckReport(
            service="audit",
            findings=[finding(DriftKind.AUDIT_CHAIN_BROKEN, broken, detail=detail)],
            outbox=backlog,
            notes={"chains": str(found.chains), "records": str(found.records)},
        )


def register_check(broker: NatsBroker, check: AuditCheck) -> None:
    """Answer ``rpc.ops.check.audit``."""

    @rpc_subscriber(broker, CheckAudit, settings=check.settings)
    @rpc_reply
    async def on_check(query: CheckAudit) -> CheckReport:
        """Chains with a record edited or deleted (nothing here is safe to fix)."""
        return await check.run()
