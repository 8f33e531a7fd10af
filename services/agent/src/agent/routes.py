"""The agent's HTTP routes. Every one requires the instance's secret."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from claudecloud_agentapi import (
    ActivityReport,
    ChatHistory,
    Checkpoint,
    CheckpointRequest,
    ClaudeStatus,
    CloneRequest,
    CredentialPush,
    FileText,
    Health,
    Listing,
    Project,
    SecretRotation,
)

from .auth import Authenticated
from .checkpoint import CheckpointService
from .credentials import CredentialStore
from .errors import NotAFolder
from .files import DataFolder, FileService
from .git import learn_git_setup
from .history import read_history
from .projects import ProjectService
from .service import ActivityService
from .settings import AgentSettings

router = APIRouter(dependencies=[Authenticated])
HISTORY_MESSAGES = 200

STARTED = time.monotonic()


def get_settings(request: Request) -> AgentSettings:
    settings: AgentSettings = request.app.state.settings
    return settings


def get_files(settings: Annotated[AgentSettings, Depends(get_settings)]) -> FileService:
    return FileService(
        DataFolder.at(settings.data_dir), settings.list_limit, settings.read_limit_bytes
    )


def get_projects(settings: Annotated[AgentSettings, Depends(get_settings)]) -> ProjectService:
    return ProjectService(DataFolder.at(settings.data_dir), settings.clone_timeout_seconds)


def get_checkpoints(
    request: Request, settings: Annotated[AgentSettings, Depends(get_settings)]
) -> CheckpointService:
    folder = DataFolder.at(settings.data_dir)
    return CheckpointService(folder.root, settings, request.app.state.checkpoint_lock)


def get_credentials() -> CredentialStore:
    return CredentialStore(Path.home())


Checkpoints = Annotated[CheckpointService, Depends(get_checkpoints)]
Credentials = Annotated[CredentialStore, Depends(get_credentials)]
Settings = Annotated[AgentSettings, Depends(get_settings)]
Files = Annotated[FileService, Depends(get_files)]
Projects = Annotated[ProjectService, Depends(get_projects)]
PathQuery = Annotated[str, Query(max_length=4096, description="Relative to the data folder")]


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The agent answers: the instance is usable."""
    return Health(status="ok", uptime_seconds=round(time.monotonic() - STARTED, 3))


@router.put("/secret", status_code=204)
async def replace_secret(rotation: SecretRotation, request: Request) -> None:
    """Replace the agent's secret (asked with the current one): from now on only the new one is
    accepted, after a restart too."""
    keeper = request.app.state.secret
    learned = rotation.instance_id is not None and keeper.instance_id is None
    keeper.replace(rotation.secret, str(rotation.instance_id) if rotation.instance_id else None)
    if learned:  # a claimed pool machine: now it may ask the gateway for git's hosts
        task = asyncio.create_task(learn_git_setup(request.app.state.settings, keeper))
        request.app.state.background.add(task)
        task.add_done_callback(request.app.state.background.discard)


@router.get("/activity", response_model=ActivityReport)
async def activity(request: Request) -> ActivityReport:
    """Terminals attached to the tmux session, open terminals and chat turns, user processes,
    and Claude's spend today and yesterday (chat and terminal)."""
    settings: AgentSettings = request.app.state.settings
    state = request.app.state
    service = ActivityService(settings.tmux_session, settings.own_commands, state.live, state.spend)
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


@router.post("/checkpoint", response_model=Checkpoint)
async def checkpoint(checkpoints: Checkpoints, body: CheckpointRequest) -> Checkpoint:
    """Save the user's work before a stop, within the deadline: a WIP commit per repository with
    changes (their HEAD, index and working tree untouched), the panes' scrollback, Claude's
    sessions. What was not reached by the deadline says so; a repository never fails the call."""
    return await checkpoints.take(body)


@router.get("/chat/history", response_model=ChatHistory)
async def chat_history(settings: Settings, cwd: PathQuery = ".") -> ChatHistory:
    """The previous conversation in ``cwd`` (the one the chat continues), from Claude's own
    transcript files: the latest messages, tool calls summarized."""
    folder = DataFolder.at(settings.data_dir)
    workdir = folder.resolve(cwd)
    if not workdir.is_dir():
        raise NotAFolder(f"{cwd!r} is not a folder")
    return await read_history(workdir, folder.relative(workdir), HISTORY_MESSAGES)
