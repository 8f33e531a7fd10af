"""The agent's HTTP routes. Every one requires the instance's secret."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from .auth import Authenticated
from .credentials import ClaudeStatus, CredentialPush, CredentialStore
from .files import DataFolder, FileService, FileText, Listing
from .projects import CloneRequest, Project, ProjectService
from .service import ActivityReport, ActivityService
from .settings import AgentSettings

router = APIRouter(dependencies=[Authenticated])

STARTED = time.monotonic()


class Health(BaseModel):
    status: str
    uptime_seconds: float


def get_settings(request: Request) -> AgentSettings:
    settings: AgentSettings = request.app.state.settings
    return settings


def get_files(settings: Annotated[AgentSettings, Depends(get_settings)]) -> FileService:
    return FileService(
        DataFolder.at(settings.data_dir), settings.list_limit, settings.read_limit_bytes
    )


def get_projects(settings: Annotated[AgentSettings, Depends(get_settings)]) -> ProjectService:
    return ProjectService(DataFolder.at(settings.data_dir), settings.clone_timeout_seconds)


def get_credentials() -> CredentialStore:
    return CredentialStore(Path.home())


Credentials = Annotated[CredentialStore, Depends(get_credentials)]
Files = Annotated[FileService, Depends(get_files)]
Projects = Annotated[ProjectService, Depends(get_projects)]
PathQuery = Annotated[str, Query(max_length=4096, description="Relative to the data folder")]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The agent answers: the instance is usable."""
    return Health(status="ok", uptime_seconds=round(time.monotonic() - STARTED, 3))


@router.get("/activity", response_model=ActivityReport)
async def activity(request: Request) -> ActivityReport:
    """Terminals attached to the tmux session, open terminals and chat turns, user processes."""
    settings: AgentSettings = request.app.state.settings
    service = ActivityService(settings.tmux_session, settings.own_commands, request.app.state.live)
    return await service.report()


@router.get("/files", response_model=Listing)
async def list_files(files: Files, path: PathQuery = ".") -> Listing:
    """A folder's entries (folders first); symlinks are listed, not followed."""
    return await asyncio.to_thread(files.list, path)


@router.get("/files/read", response_model=FileText)
async def read_file(files: Files, path: PathQuery) -> FileText:
    """A text file's content, cut at the read limit (``truncated`` says so)."""
    return await asyncio.to_thread(files.read, path)


@router.get("/projects", response_model=list[Project])
async def list_projects(projects: Projects) -> list[Project]:
    """Git repositories up to three levels deep, each with its remote."""
    return await projects.discover()


@router.post("/projects/clone", response_model=Project, status_code=201)
async def clone_project(projects: Projects, body: CloneRequest) -> Project:
    """Clone a remote repository (http, https, ssh or git URL) into a new folder."""
    return await projects.clone(body)


@router.get("/claude", response_model=ClaudeStatus)
async def claude_status(credentials: Credentials) -> ClaudeStatus:
    """Whether Claude Code is signed in here, and how (subscription, API key, OAuth token)."""
    return credentials.status()


@router.put("/credentials", response_model=ClaudeStatus)
async def put_credential(credentials: Credentials, body: CredentialPush) -> ClaudeStatus:
    """Keep the user's API key or OAuth token for Claude Code (an older revision is ignored)."""
    credentials.put(body)
    return credentials.status()


@router.delete("/credentials", response_model=ClaudeStatus)
async def clear_credential(
    credentials: Credentials, revision: Annotated[int, Query(ge=0)]
) -> ClaudeStatus:
    """Forget the stored credential; Claude processes started with it are stopped."""
    credentials.clear(revision)
    return credentials.status()
