"""Files and projects straight from the agent: everything stays inside the data folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.git_server import GitServer, serve_repository

from .conftest import LocalAgent


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with serve_repository(tmp_path_factory.mktemp("git")) as server:
        yield server


def test_list_and_read(agent: LocalAgent) -> None:
    folder = agent.root / f"notes-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "todo.txt").write_text("ship it\n")
    (folder / "sub").mkdir()
    with agent.client() as client:
        listing = client.get("/files", params={"path": folder.name}).json()
        assert [(e["name"], e["kind"]) for e in listing["entries"]] == [
            ("sub", "folder"),
            ("todo.txt", "file"),
        ]
        assert listing["entries"][1]["path"] == f"{folder.name}/todo.txt"
        text = client.get("/files/read", params={"path": f"{folder.name}/todo.txt"}).json()
        assert (text["content"], text["truncated"], text["size"]) == ("ship it\n", False, 8)


def test_large_files_are_cut_at_one_megabyte_and_say_so(agent: LocalAgent) -> None:
    (agent.root / "big.log").write_bytes(b"x" * (1024 * 1024 + 10))
    with agent.client() as client:
        text = client.get("/files/read", params={"path": "big.log"}).json()
    assert text["truncated"] is True
    assert len(text["content"]) == 1024 * 1024
    assert text["size"] == 1024 * 1024 + 10


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "escape/passwd", "escape"])
def test_paths_out_of_the_data_folder_are_refused(agent: LocalAgent, path: str) -> None:
    link = agent.root / "escape"
    if not link.is_symlink():
        os.symlink("/etc", link)
    with agent.client() as client:
        read = client.get("/files/read", params={"path": path})
        listed = client.get("/files", params={"path": path})
    assert read.status_code == 403, read.text
    assert read.json()["error"] == "OutsideData"
    assert listed.status_code == 403
    assert "root:" not in read.text


def test_absolute_paths_inside_the_folder_and_missing_files(agent: LocalAgent) -> None:
    (agent.root / "here.txt").write_text("here")
    with agent.client() as client:
        inside = client.get("/files/read", params={"path": str(agent.root / "here.txt")})
        missing = client.get("/files/read", params={"path": "nope.txt"})
    assert inside.json()["content"] == "here"
    assert missing.status_code == 404


def test_calls_without_the_secret_are_refused(agent: LocalAgent) -> None:
    with agent.client() as client:
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-secret-value"}):
            response = client.get("/files", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"] == "Unauthorized"


def test_clone_then_list_with_remote(agent: LocalAgent, git_server: GitServer) -> None:
    name = f"demo-{uuid.uuid4().hex[:6]}"
    with agent.client() as client:
        cloned = client.post("/projects/clone", json={"url": git_server.url(), "name": name})
        assert cloned.status_code == 201, cloned.text
        assert (agent.root / name / "README.md").read_text() == "# demo\n"
        projects = client.get("/projects").json()
        assert {"name": name, "path": name, "remote": git_server.url(), "branch": "main"} in (
            projects
        )
        again = client.post("/projects/clone", json={"url": git_server.url(), "name": name})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


def test_projects_are_found_three_levels_deep_only(agent: LocalAgent, tmp_path: Path) -> None:
    deep = agent.root / "a" / "b" / "c"
    deeper = agent.root / "a" / "b" / "c2" / "d"
    for repo in (deep, deeper):
        (repo / ".git").mkdir(parents=True)
    with agent.client() as client:
        paths = {p["path"] for p in client.get("/projects").json()}
    assert "a/b/c" in paths
    assert "a/b/c2/d" not in paths


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch /tmp/pwned",
        "-u touch /tmp/pwned",
        "file:///etc",
        "ext::sh -c touch% /tmp/pwned",
        "ext::sh",
        "/tmp/some/repo",
        "../repo",
        "fd::17",
        "ftp://example.com/repo.git",
    ],
)
def test_dangerous_clone_urls_are_refused(agent: LocalAgent, url: str) -> None:
    with agent.client() as client:
        response = client.post("/projects/clone", json={"url": url})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "BadRepositoryUrl"
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("name", ["../outside", ".hidden", "-rf", "a/b"])
def test_clone_names_must_be_one_folder(
    agent: LocalAgent, git_server: GitServer, name: str
) -> None:
    with agent.client() as client:
        response = client.post("/projects/clone", json={"url": git_server.url(), "name": name})
    assert response.status_code == 400
    assert response.json()["error"] == "BadProjectName"


def test_a_failing_clone_says_why_and_leaves_nothing(
    agent: LocalAgent, git_server: GitServer
) -> None:
    missing = git_server.url().replace("demo.git", "missing.git")
    with agent.client() as client:
        response = client.post("/projects/clone", json={"url": missing, "name": "missing"})
    assert response.status_code == 502
    assert response.json()["error"] == "CloneFailed"
    assert not (agent.root / "missing").exists()
