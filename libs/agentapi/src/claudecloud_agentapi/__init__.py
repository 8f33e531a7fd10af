"""The instance agent's API, defined once: what its routes take and answer, and its terminal's
wire protocol. The agent serves it; the gateway and the activity service call it.

Either side may be the older one (a workstation keeps its agent while the platform is updated),
so a reader ignores fields it does not know and every field added later has a default.
"""

from .activity import ActivityReport, ActivitySignals, ProcessInfo
from .checkpoint import (
    ChatHistory,
    Checkpoint,
    CheckpointRequest,
    HistoryMessage,
    RepoCheckpoint,
    RepoOutcome,
    SessionCheckpoint,
)
from .credentials import (
    MIN_CREDENTIAL_CHARS,
    ClaudeStatus,
    CredentialKind,
    CredentialPush,
    SignInMethod,
)
from .git import GIT_NOT_CONNECTED, CredentialQuery, GitCredential, GitSetup, SshKey
from .secret import MIN_SECRET_CHARS, AgentCredential, SecretRotation, gateway_token
from .spend import ClaudeSource, ClaudeSpendDay
from .workspace import CloneRequest, Entry, EntryKind, FileText, Health, Listing, Project

__all__ = [
    "GIT_NOT_CONNECTED",
    "MIN_CREDENTIAL_CHARS",
    "MIN_SECRET_CHARS",
    "ActivityReport",
    "ActivitySignals",
    "AgentCredential",
    "ChatHistory",
    "Checkpoint",
    "CheckpointRequest",
    "ClaudeSource",
    "ClaudeSpendDay",
    "ClaudeStatus",
    "CloneRequest",
    "CredentialKind",
    "CredentialPush",
    "CredentialQuery",
    "Entry",
    "EntryKind",
    "FileText",
    "GitCredential",
    "GitSetup",
    "Health",
    "HistoryMessage",
    "Listing",
    "ProcessInfo",
    "Project",
    "RepoCheckpoint",
    "RepoOutcome",
    "SecretRotation",
    "SessionCheckpoint",
    "SignInMethod",
    "SshKey",
    "gateway_token",
]
