"""The agent's API is one package both sides import: every route of the agent takes and answers
its models, and what one side writes the other reads, whichever of the two is older."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import claudecloud_agentapi as agentapi
from agent.app import create_app
from agent.settings import AgentSettings
from claudecloud_agentapi import (
    ActivityReport,
    ActivitySignals,
    Checkpoint,
    CheckpointRequest,
    CredentialKind,
    CredentialPush,
    ProcessInfo,
    RepoCheckpoint,
    RepoOutcome,
)


def _named(content: dict[str, Any]) -> set[str]:
    """The models a request body or answer in an OpenAPI document names."""
    schema = content.get("application/json", {}).get("schema", {})
    ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
    return {ref.rsplit("/", 1)[1]} if ref else set()


def test_every_body_the_agent_takes_or_answers_is_a_model_of_its_api() -> None:
    document = create_app(AgentSettings(secret=SecretStr("s" * 32))).openapi()
    operations = [op for path in document["paths"].values() for op in path.values()]
    bodies = {n for op in operations for n in _named(op.get("requestBody", {}).get("content", {}))}
    answers = {
        name
        for op in operations
        for status, answer in op["responses"].items()
        if status.startswith("2")
        for name in _named(answer.get("content", {}))
    }
    assert bodies == {
        "CheckpointRequest",
        "CloneRequest",
        "CredentialPush",
        "CredentialQuery",  # the credential helper's, over the agent's own socket
        "SecretRotation",
    }
    said = {"ActivityReport", "ChatHistory", "Checkpoint", "ClaudeStatus", "FileText", "Project"}
    assert answers >= said | {"Listing"}
    assert set(agentapi.__all__) >= bodies | answers


def test_activity_reads_the_signals_of_any_agent_older_or_newer() -> None:
    report = ActivityReport(
        tmux_session=True,
        tmux_clients=1,
        processes=1,
        busy=[ProcessInfo(pid=42, ppid=1, command="make")],
        inputs=7,
        seconds_since_input=3.5,
        boot_id="b1",
    )
    newer = report.model_dump() | {"gpu_seconds": 12.0}  # a field this side does not know yet
    older = {"tmux_clients": 2, "inputs": 1}  # before most counters existed

    read = ActivitySignals.model_validate(newer)
    assert (read.inputs, read.seconds_since_input, read.boot_id) == (7, 3.5, "b1")
    assert ActivitySignals.model_validate(older) == ActivitySignals(tmux_clients=2, inputs=1)


def test_a_pushed_credential_is_in_clear_in_the_request_body_only() -> None:
    key = "sk-ant-api03-" + "s" * 95  # as long as a real key
    push = CredentialPush(kind=CredentialKind.API_KEY, value=SecretStr(key), revision=4)

    assert "sk-ant" not in repr(push)
    assert "sk-ant" not in str(push.model_dump())
    received = CredentialPush.model_validate_json(push.model_dump_json())  # as the agent reads it
    assert received.value.get_secret_value() == key
    assert (received.kind.variable, received.revision) == ("ANTHROPIC_API_KEY", 4)


def test_a_checkpoint_reads_the_same_on_both_sides_and_its_deadline_is_bounded() -> None:
    saved = RepoCheckpoint(
        path="app", outcome=RepoOutcome.SAVED, branch="main", head="a" * 40,
        ref="claudecloud/wip/20261207T174301Z", commit="b" * 40, files_changed=3,
    )  # fmt: skip
    taken = Checkpoint(
        taken_at=datetime(2026, 12, 7, 17, 43, 1, tzinfo=UTC), reason="idle", seconds=0.4,
        repositories=[saved], scrollback={"shell": 120}, last_prompt="fix the tests",
    )  # fmt: skip
    newer = json.loads(taken.model_dump_json()) | {"gpu_state": "saved"}
    newer["repositories"][0]["stash_count"] = 2  # fields this side does not know yet

    read = Checkpoint.model_validate(newer)
    assert read == taken
    assert read.repositories[0].outcome == "saved"
    assert CheckpointRequest() == CheckpointRequest(reason="user", deadline_seconds=5.0)
    for wrong in (0, -1, 61):
        with pytest.raises(ValidationError):
            CheckpointRequest(deadline_seconds=wrong)


def test_a_git_credential_is_in_clear_in_the_answers_body_only() -> None:
    token = "ghu_" + "t" * 36
    given = agentapi.GitCredential(username="octocat", password=SecretStr(token))

    assert token not in repr(given)
    assert token not in str(given.model_dump())
    received = agentapi.GitCredential.model_validate_json(given.model_dump_json())
    assert received.password.get_secret_value() == token
    asked = {"protocol": "https", "host": "github.com", "wwwauth[]": "Basic realm=x"}
    assert agentapi.CredentialQuery.model_validate(asked).host == "github.com"  # more is ignored
