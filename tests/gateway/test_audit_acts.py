"""What the gateway puts in an audit record of a clone: the URL without anything secret in it."""

from __future__ import annotations

import pytest

from gateway.audit.acts import without_credentials


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        ("https://x-access-token:ghp_secret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_secret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),  # a login name, not a secret
        ("ssh://git@host:22/o/r.git", "ssh://host:22/o/r.git"),
    ],
)
def test_a_clone_url_is_recorded_without_credentials(given: str, recorded: str) -> None:
    assert without_credentials(given) == recorded
    assert "secret" not in without_credentials(given)
