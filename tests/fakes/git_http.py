"""GitHub's git server, locally: git's smart HTTP protocol served by ``git http-backend`` (the
CGI program that ships with git) behind a small server that asks for a token the way GitHub
does. A request for a private repository without ``Authorization: Basic`` (any user name, the
token as the password) is answered 401 with ``WWW-Authenticate``, so git asks its credential
helper; a token :class:`~tests.fakes.github.FakeGitHub` does not know as working, or one whose
account cannot read (or, for a push, write) the repository, is refused the same way.

Repositories live under ``root`` as ``OWNER/NAME.git`` (bare). Every request that got through is
kept (:attr:`GitServer.requests`: who, with which token, which service), so tests can say that
a push arrived under the user's token. It listens on every address so that containers reach it
through their bridge's gateway address.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.github import FakeGitHub
from tests.fakes.threaded import serving_in_thread
from tests.support import free_port

REALM = 'Basic realm="GitHub"'


@dataclass(frozen=True)
class GitRequest:
    login: str | None
    token: str | None
    repository: str
    service: str
    """``git-upload-pack`` (clone, fetch) or ``git-receive-pack`` (push)."""
    status: int
    method: str = "GET"
    """``GET`` the refs advertisement, ``POST`` the exchange itself (a push's pack)."""


@dataclass
class GitServer:
    github: FakeGitHub
    root: Path
    port: int = 0
    requests: list[GitRequest] = field(default_factory=list)

    def url(self, host: str, full_name: str) -> str:
        return f"http://{host}:{self.port}/{full_name}.git"

    def create(self, owner: str, name: str, *, private: bool = True, branch: str = "main") -> Path:
        """A bare repository with one commit (a README), known to the fake GitHub."""
        self.github.add_repo(owner, name, private=private, default_branch=branch)
        work = self.root / ".work" / owner / name
        work.mkdir(parents=True)
        _git("init", "-q", "-b", branch, cwd=work)
        (work / "README.md").write_text(f"# {name}\n")
        _git("add", "README.md", cwd=work)
        _git("-c", "user.name=Octo", "-c", "user.email=octo@example.com", "commit", "-qm",
             "first", cwd=work)  # fmt: skip
        bare = self.root / owner / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "-q", "--bare", str(work), str(bare), cwd=self.root)
        return bare

    def log(self, full_name: str, ref: str = "main") -> list[str]:
        """The subjects of ``ref``'s commits in the served repository, newest first."""
        done = subprocess.run(
            ["git", "--git-dir", str(self.root / f"{full_name}.git"), "log", "--format=%s", ref],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.splitlines()

    def pushes(self, full_name: str) -> list[GitRequest]:
        """The pushes that reached ``full_name`` (each one's pack, accepted)."""
        return [
            r
            for r in self.requests
            if r.repository == full_name
            and (r.service, r.method, r.status) == ("git-receive-pack", "POST", 200)
        ]

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])

    @contextmanager
    def serve(self) -> Iterator[GitServer]:
        self.port = free_port()
        anywhere = "0.0.0.0"  # noqa: S104 (containers reach it through their bridge)
        with serving_in_thread(self.app, anywhere, self.port, "the git server"):
            yield self

    async def _handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        repository, service = _what(path, request.query_params.get("service"))
        if repository is None:
            return PlainTextResponse("not found", status_code=404)
        token = _basic_password(request.headers.get("authorization"))
        login = self.github.token_owner(token) if token else None
        allowed = (
            self.github.can_write(login, repository)
            if service == "git-receive-pack"
            else self.github.can_read(login, repository)
        )
        if not allowed:
            status = 401 if token is None or login is None else 403
            self.requests.append(
                GitRequest(login, token, repository, service, status, request.method)
            )
            headers = {"WWW-Authenticate": REALM} if status == 401 else {}
            return PlainTextResponse("Invalid username or token.", status, headers=headers)
        answer = await self._backend(request, path, login)
        self.requests.append(
            GitRequest(login, token, repository, service, answer.status_code, request.method)
        )
        return answer

    async def _backend(self, request: Request, path: str, login: str | None) -> Response:
        body = await request.body()
        env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": request.url.query,
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": login or "",
            "REMOTE_ADDR": request.client.host if request.client else "",
            "HTTP_CONTENT_ENCODING": request.headers.get("content-encoding", ""),
            "HTTP_GIT_PROTOCOL": request.headers.get("git-protocol", ""),
            "PATH": "/usr/bin:/bin",
        }
        done = await asyncio.to_thread(
            subprocess.run,
            ["git", "http-backend"],
            env={k: v for k, v in env.items() if v or k == "REMOTE_USER"},
            input=body,
            capture_output=True,
            check=False,
            timeout=120,
        )
        out = done.stdout
        head, sep, content = out.partition(b"\r\n\r\n")
        if not sep:  # CGI allows bare newlines
            head, sep, content = out.partition(b"\n\n")
        status, headers = 200, {}
        for line in head.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers[name.strip()] = value.strip()
        return Response(content, status_code=status, headers=headers)


def _what(path: str, service: str | None) -> tuple[str | None, str]:
    """The repository (``OWNER/NAME``) and git service a smart HTTP path is about."""
    head, dot_git, tail = path.partition(".git/")
    if not dot_git or head.count("/") != 2:
        return None, ""
    if tail == "info/refs":
        return head.lstrip("/"), service or ""
    return head.lstrip("/"), tail if tail in ("git-upload-pack", "git-receive-pack") else ""


def _basic_password(header: str | None) -> str | None:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return password or None


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)
