"""The dashboard: the static export of ``web/`` (Next.js), served under ``/`` on the API's origin.

Pages and assets are read, and gzipped, once at start-up. Each HTML page gets a
Content-Security-Policy that allows exactly its own inline scripts (by hash: Next.js inlines its
page data), scripts, styles and fonts from this origin, and fetches, event streams and WebSockets
to this origin only. Hashed assets under ``/_next/static`` are cached for a year; pages are
revalidated on every visit. The API's routes are registered first and keep precedence. Only pages
and the assets they load are served: what else the build leaves in the folder (``.source-hash``,
caches, source maps) is not.

Without an export (``GATEWAY_WEB_DIR`` unset, or the folder not built: ``make web`` needs Node.js
and npm) the gateway says so in its log, keeps serving the API, and ``/`` is the minimal page of
:mod:`gateway.auth.routes`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import NoMatchFound

from claudecloud_common.errors import AppError
from claudecloud_common.logging import get_logger

from .auth import routes as auth
from .auth.identify import identify
from .deps import StateDep
from .errors import error_responses
from .settings import GatewaySettings

__all__ = ["install_web", "page_policy"]

log = get_logger(__name__)

ASSETS_CACHE = "public, max-age=31536000, immutable"
PAGE_CACHE = "no-cache"
VERIFY_HEADERS = {"Cache-Control": "no-store"}
"""The sign-in link's page: its address holds a token, so no cache keeps it (and the page's own
``<meta name="referrer" content="no-referrer">`` sends it nowhere)."""
ACTIVITY_ROUTE = "instance_activity"
"""The name of ``GET /instances/{instance_id}/activity``: the activity service's answer."""

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)
_TYPES = {
    # Pages, the data of each for client-side navigation (``index.txt``), and the assets they
    # load: the only files of the export that are served.
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}


def page_policy(html: bytes) -> str:
    """The Content-Security-Policy of one exported page: its inline scripts by hash, the rest
    from this origin only. Inline styles are allowed (the terminal sets its own)."""
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
            for body in _INLINE_SCRIPT.findall(html)
        }
    )
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *hashes]),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


@dataclass(frozen=True)
class _File:
    body: bytes
    gzipped: bytes | None
    """The body compressed once at start-up, for a client that accepts gzip (text only)."""
    media_type: str
    headers: dict[str, str]

    @classmethod
    def of(cls, body: bytes, media_type: str, headers: dict[str, str]) -> _File:
        compressible = media_type.startswith(("text/", "application/", "image/svg"))
        gzipped = gzip.compress(body, 9, mtime=0) if compressible and len(body) > 512 else None
        return cls(body, gzipped, media_type, headers)

    def answer(self, request: Request) -> Response:
        headers = {**self.headers, "Vary": "Accept-Encoding"}
        if self.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def _media_type(path: Path) -> str:
    return _TYPES[path.suffix]


def _served(relative: Path) -> bool:
    """Whether a file of the export is a page or an asset: a type a browser loads, and no part of
    its path hidden (the build's own files: ``.source-hash``, caches) nor a source map."""
    hidden = any(part.startswith(".") for part in relative.parts)
    return not hidden and relative.suffix in _TYPES


def _read_export(folder: Path) -> dict[str, _File]:
    """Every page and asset of the export by the URL paths it answers: pages
    (``/signin/index.html`` answers ``/signin/`` and ``/signin`` too) with their policy, assets
    cacheable for good. Nothing else in the folder is served."""
    files: dict[str, _File] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if not _served(relative):
            continue
        body = path.read_bytes()
        if relative.parts[0] == "_next":
            headers = {"Cache-Control": ASSETS_CACHE}
        elif path.suffix == ".html":
            headers = {"Cache-Control": PAGE_CACHE, "Content-Security-Policy": page_policy(body)}
        else:
            headers = {"Cache-Control": PAGE_CACHE}
        served = _File.of(body, _media_type(path), headers)
        url = "/" + relative.as_posix()
        files[url] = served
        if relative.name == "index.html":
            folder_url = url.removesuffix("index.html")
            files[folder_url] = served
            if folder_url != "/":
                files[folder_url.rstrip("/")] = served
    if "/favicon.ico" not in files and "/icon.svg" in files:  # asked for by pages without a link
        files["/favicon.ico"] = files["/icon.svg"]
    return files


class WebSession(BaseModel):
    """What the dashboard asks first, answered 200 whether or not anyone is signed in (a 401
    would be an error in the browser's console on every public page)."""

    signed_in: bool
    email: str | None = None
    features: dict[str, bool]


session_router = APIRouter(tags=["dashboard"])


@session_router.get(
    "/web/session", response_model=WebSession, responses=error_responses(validated=False)
)
async def web_session(request: Request, response: Response, state: StateDep) -> WebSession:
    """Whether a user is signed in, and which optional services (billing, activity) answer."""
    response.headers["Cache-Control"] = "no-store"
    features = {
        "billing": state.settings.billing_enabled,
        "activity": _has_route(request.app, ACTIVITY_ROUTE, instance_id="-"),
    }
    try:
        caller = await identify(request, state)
    except AppError:
        return WebSession(signed_in=False, features=features)
    return WebSession(signed_in=caller.user_id is not None, email=caller.email, features=features)


def _has_route(app: FastAPI, name: str, **params: str) -> bool:
    try:
        app.url_path_for(name, **params)
    except NoMatchFound:
        return False
    return True


def install_web(app: FastAPI, settings: GatewaySettings) -> None:
    """Serve the dashboard's export under ``/`` when it is built; else the minimal page."""
    app.include_router(session_router)
    folder = settings.web_dir
    if folder is None or not (folder / "index.html").is_file():
        if folder is not None:
            log.warning(
                "web.not_built",
                folder=str(folder),
                detail="the dashboard is not built: run `make web` (needs Node.js 18.18+ and npm); "
                "the API is served as usual",
            )
        app.include_router(auth.home)
        return
    files = _read_export(folder)
    pages = {url: served for url, served in files.items() if not url.startswith("/_next/")}
    for url, served in pages.items():
        app.add_api_route(url, _responder(served), methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(
        "/_next/{path:path}", _assets(files), methods=["GET", "HEAD"], include_in_schema=False
    )
    verify = pages.get("/verify/")
    if verify is not None:  # the sign-in mail's link opens the dashboard's page, not the plain one
        link_page = _File(
            verify.body, verify.gzipped, verify.media_type, verify.headers | VERIFY_HEADERS
        )
        route = APIRoute(
            "/auth/verify", _responder(link_page), methods=["GET"], include_in_schema=False
        )
        app.router.routes.insert(0, route)  # before auth.routes.verify_page
    log.info("web.served", folder=str(folder), pages=sum(u.endswith(".html") for u in files))


def _responder(served: _File) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return served.answer(request)

    return page


def _assets(files: dict[str, _File]) -> Callable[[Request, str], Awaitable[Response]]:
    async def asset(request: Request, path: str) -> Response:
        served = files.get("/_next/" + path)
        if served is None:
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        return served.answer(request)

    return asset
