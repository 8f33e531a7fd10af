"""A local Stripe for tests and ``make run``: localstripe plus what it lacks.

localstripe (PyPI) is a stateful fake Stripe API: customers, cards, plans, subscriptions,
invoices and failed payments, with webhooks signed the way Stripe signs them. It has no Checkout
Sessions, Billing Portal or Billing Meter events; this module adds those following Stripe's
documented shapes (``/v1/checkout/sessions``, ``/v1/billing_portal/sessions``,
``/v1/billing/meter_events``), answers a repeated ``Idempotency-Key`` with the first answer as
Stripe does, and serves two small pages a person can click through:

- the Checkout URL opens a page whose "Pay" button subscribes the customer (a test card on
  localstripe) and sends the signed ``checkout.session.completed`` to the webhook;
- the portal URL opens a page whose "Cancel" button cancels the subscription (localstripe sends
  ``customer.subscription.deleted``) and whose "Switch to ..." buttons change the plan (the
  stand-in sends ``customer.subscription.updated``).

Controls for tests under ``/_standin/``: resend an event (Stripe's retry), a renewal whose card is
declined (``invoice.payment_failed``, the subscription ``past_due``), the meter events received.

Run: ``python -m billing.standin --port 8420 --webhook-url URL --webhook-secret whsec_...``.
Never for production: it takes any ``sk_`` key and charges nothing.
"""

from .app import StandIn, StandInServer, serve_inside
from .base import ACTED_ON, DECLINED_ON_CHARGE, GOOD_CARD, sign

__all__ = [
    "ACTED_ON",
    "DECLINED_ON_CHARGE",
    "GOOD_CARD",
    "StandIn",
    "StandInServer",
    "serve_inside",
    "sign",
]
