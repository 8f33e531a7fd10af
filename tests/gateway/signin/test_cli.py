"""``claude-cloud`` end to end against a running gateway: login, verify from the mail, create,
status, the connect script it fetches (checked by shellcheck), pause, wake, destroy, logout."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt

from devstack import Stack
from tests.mail import MailCatcher
from tests.support import eventually

from .conftest import ISSUER, JWT_SECRET, base_url, new_email, shellcheck

CLI = str(Path(sys.executable).parent / "claude-cloud")


class Cli:
    def __init__(self, stack: Stack, home: Path) -> None:
        self.env = {"HOME": str(home), "CLAUDE_CLOUD_API": base_url(stack), "PATH": "/usr/bin:/bin"}
        self.home = home

    async def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [CLI, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    @property
    def token_file(self) -> Path:
        return self.home / ".claude-cloud" / "token"


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_the_cli_from_sign_in_to_connect(
    stack: Stack, mail: MailCatcher, tmp_path: Path
) -> None:
    cli = Cli(stack, tmp_path)
    email = new_email("cli")

    before = await cli("status")
    assert before.returncode == 1
    assert "not signed in" in one_line(before)

    asked = await cli("login", email)
    assert asked.returncode == 0, asked.stderr
    verified = await cli("verify", await mail.next_link(email))
    assert verified.returncode == 0, verified.stderr
    assert f"Signed in as {email}" in verified.stdout
    assert stat.S_IMODE(cli.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.token_file.parent.stat().st_mode) == 0o700

    created = await cli("create")
    assert created.returncode == 0, created.stderr
    assert created.stdout.rstrip().endswith("running")  # it waited for the instance to run

    async def status_says(word: str) -> bool:
        result = await cli("status")
        assert result.returncode == 0, result.stderr
        return f": {word} (" in result.stdout

    await eventually(lambda: status_says("running"), what="running in `claude-cloud status`")

    printed = await cli("connect", "--print")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("#!/usr/bin/env bash")
    await asyncio.to_thread(shellcheck, printed.stdout, tmp_path)

    ran = await cli("connect")  # the fake provider: it explains there is nothing to reach
    assert ran.returncode == 1
    assert "demo mode" in ran.stderr

    assert (await cli("pause")).returncode == 0  # the platform's default: keep memory
    await eventually(lambda: status_says("frozen"), what="frozen")
    woken = await cli("wake")
    assert woken.returncode == 0, woken.stderr
    assert woken.stdout.rstrip().endswith("running")
    assert (await cli("pause", "--stop")).returncode == 0
    await eventually(lambda: status_says("paused"), what="stopped")
    assert (await cli("wake", "--no-wait")).returncode == 0
    await eventually(lambda: status_says("running"), what="running again")
    assert (await cli("destroy", "--yes")).returncode == 0

    out = await cli("logout")
    assert out.returncode == 0
    assert not cli.token_file.exists()
    after = await cli("status")
    assert after.returncode == 1
    assert "not signed in" in one_line(after)


async def test_an_expired_token_is_one_clear_line(stack: Stack, tmp_path: Path) -> None:
    cli = Cli(stack, tmp_path)
    now = int(time.time())
    expired = jwt.encode(
        {
            "iss": ISSUER,
            "sub": "00000000-0000-0000-0000-000000000001",
            "email": "gone@example.com",
            "purpose": "session",
            "jti": "x",
            "iat": now - 7200,
            "exp": now - 3600,
        },
        JWT_SECRET,
        "HS256",
    )
    cli.token_file.parent.mkdir(parents=True)
    cli.token_file.write_text(expired)
    for command in ("status", "create", "connect"):
        result = await cli(command)
        assert result.returncode == 1, command
        line = one_line(result)
        assert "expired" in line, line
        assert "claude-cloud login" in line, line


async def test_a_bad_link_and_an_unreachable_api_are_one_line_too(tmp_path: Path) -> None:
    cli = Cli.__new__(Cli)
    cli.home = tmp_path
    cli.env = {"HOME": str(tmp_path), "CLAUDE_CLOUD_API": "http://127.0.0.1:9", "PATH": "/usr/bin"}
    unreachable = await cli("login", "someone@example.com")
    assert unreachable.returncode == 1
    assert "cannot reach" in one_line(unreachable)
    bad_link = await cli("verify", "https://cloud.example/auth/verify?nothing=here")
    assert bad_link.returncode == 1
    assert "no token" in one_line(bad_link)
