"""The gateway's part in a disabled webhook endpoint: its owner is mailed (the gateway knows
their address and has the mailer). One durable consumer shared by the replicas; a mail that
cannot be sent is retried with the bus's backoff, and at worst (a redelivery after a send) a
user gets the notice twice."""

from __future__ import annotations

from claudecloud_common.bus import event_subscriber
from claudecloud_common.contracts.webhooks import EndpointDisabled, WebhookSubject
from claudecloud_common.logging import bind_correlation, get_logger

from ..auth.repository import UserRepository
from ..state import GatewayState

log = get_logger(__name__)

SUBJECT = "A ClaudeCloud webhook endpoint was turned off"
BODY = """\
Hello,

ClaudeCloud could not deliver to your webhook endpoint

    {url}

and has turned it off: {reason}.

Nothing more is sent to it. Once it answers again, delete it and register it anew (Settings in
the dashboard, or DELETE then POST /me/webhooks); its delivery log says what each try got.
"""


def register(state: GatewayState) -> None:
    """Subscribe the gateway's durable consumer on ``evt.webhooks.endpoint_disabled``."""

    @event_subscriber(state.broker, WebhookSubject.ENDPOINT_DISABLED, settings=state.settings)
    async def mail_owner(event: EndpointDisabled) -> None:
        """Tell the endpoint's owner it was turned off, and why."""
        with bind_correlation(event.correlation_id, endpoint_id=str(event.endpoint_id)):
            async with state.db.read() as session:
                user = await UserRepository(session).get(event.user_id)
            if user is None:
                log.info("webhooks.disabled_owner_unknown")
                return
            text = BODY.format(url=event.url, reason=event.reason)
            await state.mailer.send_notice(user.email, SUBJECT, text)
