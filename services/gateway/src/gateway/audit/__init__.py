"""The audit log as the gateway sees it: what it records of each act (who, from where), and the
owner's own records (``/me/audit``)."""
