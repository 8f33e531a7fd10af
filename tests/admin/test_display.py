"""What the admin prints of a message an attacker or a bug may have written: no secret, no
terminal control sequence, one short line; and a bus URL without its credentials."""

from __future__ import annotations

import json

import pytest
from claudecloud_admin.bus import redact_url
from claudecloud_admin.display import PREVIEW_CHARS, error_text, preview

pytestmark = pytest.mark.unit


def test_a_preview_masks_every_field_named_like_a_secret_however_deep() -> None:
    body = {
        "instance_id": "i-1",
        "agent_secret": "s3cret-a",
        "items": [{"setup_key": "s3cret-b", "host": "10.0.0.2"}],
        "headers": {"Authorization": "Bearer s3cret-c"},
    }
    shown = preview(json.dumps(body).encode())
    assert "s3cret" not in shown
    assert '"instance_id":"i-1"' in shown
    assert '"agent_secret":"***"' in shown


def test_a_preview_cannot_drive_the_terminal_and_stays_one_short_line() -> None:
    hostile = b"not json \x1b[2J\x1b]0;owned\x07\nsecond line " + b"x" * 500
    shown = preview(hostile)
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "\n" not in shown
    assert len(shown) == PREVIEW_CHARS
    assert shown.endswith("…")


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("nats://operator:pa55@nats-1:4222", "nats://nats-1:4222"),
        ("tls://token@nats.example", "tls://nats.example"),
        ("127.0.0.1:4222", "nats://127.0.0.1:4222"),
    ],
)
def test_a_bus_url_is_shown_without_its_credentials(given: str, shown: str) -> None:
    assert redact_url(given) == shown


def test_an_error_does_not_quote_the_value_it_refused() -> None:
    error = (
        "ValidationError: 1 validation error for on_pause command.agent_secret Extra inputs are"
        " not permitted [type=extra_forbidden, input_value='s3cret-in-body', input_type=str]"
    )
    shown = error_text(error, 500)
    assert "s3cret" not in shown
    assert "input_value=***, input_type=str]" in shown
