"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, in development only
(and the bus's, ``/docs/asyncapi``: see :mod:`gateway.asyncapi`).

Both viewers are served from here, under ``/docs/assets/``: the files come from the
``fastapi-offline`` package (Swagger UI and ReDoc's standalone bundles, kept current by its
maintainers: a PyPI package rather than files of our own or a build step that needs npm), so the
pages work on a machine without internet and load nothing from elsewhere. Each page's
Content-Security-Policy allows scripts from this origin and its own inline start-up script by
hash, nothing else. Production still serves neither page (the OpenAPI document stays at
``/openapi.json`` for tools): a documentation page adds nothing to the origin that holds the
session cookie but risk.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib.resources import files
from pathlib import PurePath

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.requests import Request

from .asyncapi import install_asyncapi
from .settings import GatewaySettings

ASSETS = "/docs/assets"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
SWAGGER_JS = f"{ASSETS}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS}/swagger-ui.css"
REDOC_JS = f"{ASSETS}/redoc.standalone.js"

_SWAGGER_START = (
    "SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true,"
    " presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],"
    " layout: 'BaseLayout', validatorUrl: null});"  # no badge fetched from swagger.io
)


def _sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def _policy(scripts: str, styles: str, workers: str = "'none'") -> str:
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src 'self' data:; "
        f"connect-src 'self'; worker-src {workers}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )


def _script(source: str) -> str:
    return f'<script src="{source}"></script>'


def _page(title: str, head: str, body: str, policy: str) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">{head}</head>
<body>{body}</body></html>"""
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


async def swagger_ui(_request: Request) -> HTMLResponse:
    """Swagger UI for ``/openapi.json``."""
    stylesheet = f'<link rel="stylesheet" href="{SWAGGER_CSS}">'
    body = f'<div id="swagger-ui"></div>{_script(SWAGGER_JS)}<script>{_SWAGGER_START}</script>'
    policy = _policy(f"'self' {_sha256(_SWAGGER_START)}", "'self' 'unsafe-inline'")
    return _page("ClaudeCloud API", stylesheet, body, policy)


async def redoc(_request: Request) -> HTMLResponse:
    """ReDoc for ``/openapi.json`` (its search runs in a worker made from a blob)."""
    body = f'<redoc spec-url="/openapi.json"></redoc>{_script(REDOC_JS)}'
    policy = _policy("'self'", "'unsafe-inline'", workers="blob:")
    return _page("ClaudeCloud API", "", body, policy)


@cache
def _asset(name: str) -> bytes | None:
    """One of the viewers' files, read from the package once."""
    found = files("fastapi_offline") / "static" / name
    return found.read_bytes() if found.is_file() else None


async def asset(request: Request) -> Response:
    """A file the documentation pages load (one segment: no way out of the package's folder)."""
    name = request.path_params["name"]
    media_type = _TYPES.get(PurePath(name).suffix)
    body = _asset(name) if media_type else None
    if body is None:
        return Response(status_code=404)
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


def install_docs(app: FastAPI, settings: GatewaySettings) -> None:
    """Serve ``/docs`` and ``/redoc`` unless this is production (see the module's docstring)."""
    if not settings.docs_enabled:
        return
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.add_route(f"{ASSETS}/{{name}}", asset, include_in_schema=False)
    install_asyncapi(app)  # the bus: every subject, its schema and an example
