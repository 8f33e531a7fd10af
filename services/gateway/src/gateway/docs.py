"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, in development only
(and the bus's, ``/docs/asyncapi``: see :mod:`gateway.asyncapi`).

Both pages run a CDN's script. On a production origin, the one that holds the session cookie,
that script could read and act as every signed-in user, so production serves neither (the
OpenAPI document stays at ``/openapi.json`` for tools). Elsewhere each script is pinned to one
version and checked by its hash (Subresource Integrity), and the page's Content-Security-Policy
allows exactly those files and our own inline start-up script, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from .asyncapi import install_asyncapi
from .settings import GatewaySettings

CDN = "https://cdn.jsdelivr.net/npm"


@dataclass(frozen=True)
class Asset:
    """One file of an npm package, at a fixed version, with its SHA-384 (as in the package)."""

    url: str
    sri: str


SWAGGER_JS = Asset(
    f"{CDN}/swagger-ui-dist@5.35.0/swagger-ui-bundle.js",
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
)
SWAGGER_CSS = Asset(
    f"{CDN}/swagger-ui-dist@5.35.0/swagger-ui.css",
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
)
REDOC_JS = Asset(
    f"{CDN}/redoc@2.5.4/bundles/redoc.standalone.js",
    "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5",
)

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


def _script(asset: Asset) -> str:
    return f'<script src="{asset.url}" integrity="{asset.sri}" crossorigin="anonymous"></script>'


def _page(title: str, head: str, body: str, policy: str) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="referrer" content="no-referrer">{head}</head>
<body>{body}</body></html>"""
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


async def swagger_ui(_request: Request) -> HTMLResponse:
    """Swagger UI for ``/openapi.json``."""
    stylesheet = (
        f'<link rel="stylesheet" href="{SWAGGER_CSS.url}" integrity="{SWAGGER_CSS.sri}"'
        ' crossorigin="anonymous">'
    )
    body = f'<div id="swagger-ui"></div>{_script(SWAGGER_JS)}<script>{_SWAGGER_START}</script>'
    policy = _policy(
        f"{SWAGGER_JS.url} {_sha256(_SWAGGER_START)}", f"{SWAGGER_CSS.url} 'unsafe-inline'"
    )
    return _page("ClaudeCloud API", stylesheet, body, policy)


async def redoc(_request: Request) -> HTMLResponse:
    """ReDoc for ``/openapi.json`` (its search runs in a worker made from a blob)."""
    body = f'<redoc spec-url="/openapi.json"></redoc>{_script(REDOC_JS)}'
    policy = _policy(REDOC_JS.url, "'unsafe-inline'", workers="blob:")
    return _page("ClaudeCloud API", "", body, policy)


def install_docs(app: FastAPI, settings: GatewaySettings) -> None:
    """Serve ``/docs`` and ``/redoc`` unless this is production (see the module's docstring)."""
    if not settings.docs_enabled:
        return
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    install_asyncapi(app)  # the bus: every subject, its schema and an example
