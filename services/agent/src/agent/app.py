"""Wiring: settings → the FastAPI app with its routes and error handler."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .errors import AgentError
from .routes import router
from .service import LiveCounts
from .settings import AgentSettings
from .sockets import router as sockets


def create_app(settings: AgentSettings | None = None) -> FastAPI:
    settings = settings or AgentSettings()
    app = FastAPI(title="ClaudeCloud instance agent", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.live = LiveCounts()
    app.include_router(router)
    app.include_router(sockets)

    @app.exception_handler(AgentError)
    async def on_agent_error(request: Request, exc: AgentError) -> JSONResponse:
        body = {"error": type(exc).__name__, "detail": exc.detail}
        return JSONResponse(body, status_code=exc.status_code)

    return app
