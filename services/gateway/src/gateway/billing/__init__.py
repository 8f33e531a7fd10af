"""Billing for the signed-in user: plans, checkout, the billing portal and their status."""
