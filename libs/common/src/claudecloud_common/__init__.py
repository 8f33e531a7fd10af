"""Contracts and infrastructure glue shared by every ClaudeCloud service.

Nothing here knows a business rule: messages (``contracts``), settings, errors, the bus, the
database, the outbox and inbox, and logging.
"""
