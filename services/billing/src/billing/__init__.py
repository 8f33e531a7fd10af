"""The billing service: Stripe customers, subscriptions, usage and webhooks."""
