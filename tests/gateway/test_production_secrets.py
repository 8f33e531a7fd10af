"""Production refuses a guessable JWT secret or admin key and says how to make a good one
(issue 14, the dev secrets)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def _start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_")
        and k not in {"DATABASE_URL", "JWT_SECRET", "ADMIN_API_KEY", "SMTP_HOST", "CREDENTIALS_KEY"}
    }
    clean.update(
        {
            "DATA_DIR": str(tmp_path),
            "GATEWAY_HTTP_PORT": "1",
            "ENVIRONMENT": "production",
            "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/unused",
            "SMTP_HOST": "smtp.example",
            "CREDENTIALS_KEY": secrets.token_urlsafe(48),
        },
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "gateway"],
        check=False,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


GUESSABLE = [
    "changemechangemechangemechangeme",
    "test-jwt-secret-" + "x" * 32,
    "0123456789" * 4,
    "a" * 64,
]


@pytest.mark.parametrize("guessable", GUESSABLE)
def test_a_guessable_secret_is_refused_with_what_to_run(tmp_path: Path, guessable: str) -> None:
    result = _start(tmp_path, JWT_SECRET=guessable, ADMIN_API_KEY=guessable)
    assert result.returncode == 2, result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 2, result.stderr
    assert problems[0].startswith("  - JWT_SECRET"), problems
    assert problems[1].startswith("  - ADMIN_API_KEY"), problems
    assert all(MAKE_ONE in p for p in problems), problems


def test_generated_secrets_are_accepted(tmp_path: Path) -> None:
    result = _start(
        tmp_path,
        JWT_SECRET=secrets.token_urlsafe(48),
        ADMIN_API_KEY=secrets.token_urlsafe(48),
        BILLING_ENABLED="true",
    )
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert problems == ["  - STRIPE_SECRET_KEY is required when BILLING_ENABLED is true"]
