"""The gateway's part in a budget alert: the user is mailed (the gateway knows their address and
has the mailer). Billing sends each alert once per threshold and period; one durable consumer
shared by the replicas mails it, and a mail that cannot be sent is retried with the bus's
backoff (at worst, a redelivery after a send, a user gets the mail twice)."""

from __future__ import annotations

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.spend import BudgetAlert, BudgetThreshold, SpendSubject
from claudecloud_common.logging import bind_correlation, get_logger

from ..auth.repository import UserRepository
from ..state import GatewayState

log = get_logger(__name__)

SUBJECT = "ClaudeCloud: {percent} % of your monthly budget is spent"
BODY = """\
Hello,

Your ClaudeCloud spend this period is ${spent:.2f} of your ${limit:.2f} monthly budget
({percent} %): hours beyond your plan's included ones, and Claude tokens the platform provides.

{consequence}

See where it goes on the Usage page, or `claude-cloud usage`; change the budget there, with
`claude-cloud budget set`, or PUT /me/budget.
"""
AT_LIMIT_STOP = (
    "Your budget's hard stop is on: your workstation is paused, and creating, waking and chatting "
    "are refused until you raise or remove the budget."
)
AT_LIMIT = "Your budget has no hard stop: your workstation keeps running, and spend goes on."
BEFORE_LIMIT_STOP = "At 100 % your workstation will be paused (the budget's hard stop is on)."
BEFORE_LIMIT = "Nothing is stopped at 100 %: the budget only sends these mails."


def mail_text(event: BudgetAlert) -> tuple[str, str]:
    """The subject and text of the mail for ``event``."""
    reached = event.threshold is BudgetThreshold.REACHED
    if reached:
        consequence = AT_LIMIT_STOP if event.hard_stop else AT_LIMIT
    else:
        consequence = BEFORE_LIMIT_STOP if event.hard_stop else BEFORE_LIMIT
    percent = int(event.threshold)
    text = BODY.format(
        spent=event.spent_usd,
        limit=event.monthly_limit_usd,
        percent=percent,
        consequence=consequence,
    )
    return SUBJECT.format(percent=percent), text


def register(state: GatewayState) -> None:
    """Subscribe the gateway's durable consumer on ``evt.billing.budget_alert``."""

    @event_subscriber(state.broker, SpendSubject.BUDGET_ALERT, settings=state.settings)
    async def mail_budget_alert(event: BudgetAlert) -> None:
        """Tell the user their spend crossed 75, 90 or 100 % of their budget."""
        with bind_correlation(event.correlation_id, user_id=str(event.user_id)):
            async with state.db.read() as session:
                user = await UserRepository(session).get(event.user_id)
            if user is None:
                log.info("billing.budget_alert_owner_unknown")
                return
            subject, text = mail_text(event)
            await state.mailer.send_notice(user.email, subject, text)
            log.info("billing.budget_alert_mailed", threshold=int(event.threshold))
