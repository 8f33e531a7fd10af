"""Wiring: settings → the FastAPI app with its routes and error handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from . import git, sshkey
from .auth import SecretKeeper
from .errors import AgentError
from .routes import router
from .service import LiveCounts
from .settings import AgentSettings
from .sockets import router as sockets
from .spend import ClaudeSpend
from .transcripts import claude_home, keep_transcripts


def create_app(settings: AgentSettings | None = None) -> FastAPI:
    settings = settings or AgentSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Claude Code deletes transcripts older than 30 days at its start unless told otherwise;
        # a wake after a long stop resumes from them.
        await asyncio.to_thread(keep_transcripts, settings.claude_transcript_days)
        async with git.background(app):  # the provider's hosts for git, the SSH key
            yield

    app = FastAPI(
        title="ClaudeCloud instance agent", docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.secret = SecretKeeper(settings)
    app.state.live = LiveCounts()
    app.state.spend = ClaudeSpend.at(Path.home(), claude_home())
    app.state.checkpoint_lock = asyncio.Lock()
    app.state.background = set()  # tasks a route started that outlive its answer
    app.include_router(router)
    app.include_router(sockets)
    app.include_router(sshkey.router)
    app.include_router(git.local)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        """For the machine's own health check, which holds no secret: up, and nothing more
        (``/healthz``, asked with the secret, is what says the instance is usable)."""
        return {"status": "ok"}

    @app.exception_handler(AgentError)
    async def on_agent_error(request: Request, exc: AgentError) -> JSONResponse:
        body = {"error": type(exc).__name__, "detail": exc.detail}
        return JSONResponse(body, status_code=exc.status_code)

    return app
