"""Prometheus metrics shared by the bus glue; services add their own next to their code."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["BUS_DEAD_LETTERS", "BUS_HANDLED", "BUS_HANDLER_SECONDS", "BUS_RETRIES"]

BUS_HANDLED = Counter(
    "claudecloud_bus_messages_total",
    "Bus messages handled, by subject and outcome.",
    ["subject", "outcome"],
)
BUS_RETRIES = Counter(
    "claudecloud_bus_retries_total", "Bus messages handed back for redelivery.", ["subject"]
)
BUS_DEAD_LETTERS = Counter(
    "claudecloud_bus_dead_letters_total", "Bus messages moved to dlq.<subject>.", ["subject"]
)
BUS_HANDLER_SECONDS = Histogram(
    "claudecloud_bus_handler_seconds", "Time spent in bus handlers.", ["subject"]
)
