"""The user's projects: git repositories in the data folder, and cloning new ones.

A clone takes only a remote URL (http, https, ssh, git, or ssh's ``user@host:path``): never a
local path, ``file://``, a ``<transport>::`` helper such as ``ext::`` (which runs a command), or
anything git could read as an option. The URL is also passed after ``--`` and git itself is told
which protocols it may use, so a URL that slipped past the check still could not run anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from claudecloud_agentapi import CloneRequest, Project

from .errors import BadProjectName, BadRepositoryUrl, CloneFailed, CloneTimedOut, ProjectExists
from .files import DataFolder

MAX_DEPTH = 3
ALLOWED_SCHEMES = ("http", "https", "ssh", "git")
GIT_PROTOCOLS = ":".join(ALLOWED_SCHEMES)
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?!/)\S+$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")
_SKIP = frozenset({"node_modules", "__pycache__", ".venv", "venv"})


def check_url(url: str) -> str:
    """``url`` if it names a remote repository over an allowed protocol, else refuse it."""
    if url != url.strip() or any(ord(c) < 0x20 or c == "\x7f" for c in url):
        raise BadRepositoryUrl("the URL contains spaces or control characters")
    if url.startswith("-"):
        raise BadRepositoryUrl("the URL must not start with '-'")
    if "::" in url.split("/", 1)[0] or "::" in url.split("://", 1)[0]:
        raise BadRepositoryUrl("transport helpers ('<transport>::...') are not allowed")
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise BadRepositoryUrl(
                f"only {', '.join(ALLOWED_SCHEMES)} URLs can be cloned, not {parts.scheme}://"
            )
        if not parts.hostname or parts.hostname.startswith("-"):
            raise BadRepositoryUrl("the URL names no host")
        return url
    if _SCP_LIKE.match(url):
        return url
    raise BadRepositoryUrl(
        "not a remote repository URL: use https://, http://, ssh://, git:// or user@host:path"
    )


def default_name(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git") or "project"


def check_name(name: str) -> str:
    if not _NAME.match(name) or name in (".", ".."):
        raise BadProjectName(
            "a project name is one folder name of letters, digits, '.', '_' and '-'"
            " that does not start with '.' or '-'"
        )
    return name


def without_password(url: str) -> str:
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class ProjectService:
    folder: DataFolder
    clone_timeout: float

    async def discover(self) -> list[Project]:
        """Git repositories up to three levels below the data folder (not inside one another)."""
        found = await asyncio.to_thread(find_repositories, self.folder.root)
        return list(await asyncio.gather(*(self._describe(path) for path in found)))

    async def clone(self, request: CloneRequest) -> Project:
        """Clone ``request.url`` into a new folder; the folder must not exist yet."""
        url = check_url(request.url)
        name = check_name(request.name or default_name(url))
        target = self.folder.root / name
        if target.exists() or target.is_symlink():
            raise ProjectExists(f"a folder named {name!r} already exists; choose another name")
        code, output = await self._git_clone(url, target)
        if code != 0:
            await asyncio.to_thread(shutil.rmtree, target, True)
            raise CloneFailed(f"git could not clone the repository: {_last_lines(output)}")
        return await self._describe(target)

    async def _describe(self, path: Path) -> Project:
        remote = await _git_output(path, "config", "--get", "remote.origin.url")
        branch = await _git_output(path, "symbolic-ref", "--quiet", "--short", "HEAD")
        return Project(
            name=path.name,
            path=self.folder.relative(path),
            remote=without_password(remote) if remote else None,
            branch=branch or None,
        )

    async def _git_clone(self, url: str, target: Path) -> tuple[int, str]:
        argv = [
            "git",
            "-c", "protocol.allow=never",
            *(arg for p in ALLOWED_SCHEMES for arg in ("-c", f"protocol.{p}.allow=always")),
            "clone", "--no-recurse-submodules", "--", url, str(target),
        ]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.folder.root,
            env=_git_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # so a timeout stops git and every helper it started
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), self.clone_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            await asyncio.to_thread(shutil.rmtree, target, True)
            raise CloneTimedOut(
                f"the clone did not finish within {self.clone_timeout:.0f}s and was stopped"
            ) from None
        return process.returncode or 0, out.decode(errors="replace")


def find_repositories(folder: Path, depth: int = 1) -> list[Path]:
    """Git repositories up to :data:`MAX_DEPTH` levels below ``folder`` (not inside one another;
    hidden folders, dependency folders and symlinks are not entered)."""
    found: list[Path] = []
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return found
    for child in children:
        if child.name.startswith(".") or child.name in _SKIP or child.is_symlink():
            continue
        if not child.is_dir():
            continue
        if (child / ".git").exists():
            found.append(child)
        elif depth < MAX_DEPTH:
            found.extend(find_repositories(child, depth + 1))
    return found


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_ALLOW_PROTOCOL": GIT_PROTOCOLS,
            "GIT_TERMINAL_PROMPT": "0",  # no password prompt to hang on
            "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        }
    )
    return env


async def _git_output(path: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "git", "-C", str(path), *args,
        env=_git_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await process.communicate()
    return out.decode(errors="replace").strip() if process.returncode == 0 else ""


def _last_lines(output: str, count: int = 3) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no output"
