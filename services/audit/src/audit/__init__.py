"""The audit service: who did what, append-only, on a hash chain per user."""
