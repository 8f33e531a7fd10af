"""The mail catcher the sign-in tests use (shared with the benchmarks, so it lives in devstack)."""

from devstack.signin import MailCatcher

__all__ = ["MailCatcher"]
