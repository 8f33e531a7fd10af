"""Files and projects of a user's instance, through the gateway, on a real container."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.git_server import GitServer, serve_repository

from .conftest import Proxied, exec_in


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with serve_repository(tmp_path_factory.mktemp("git"), "hello-repo") as server:
        yield server


async def test_list_and_read(proxied: Proxied) -> None:
    exec_in(
        proxied.a.container, "mkdir -p /claude-data/notes && echo 'plan' > /claude-data/notes/a.md"
    )
    async with proxied.api(proxied.a) as api:
        listing = await api.get(
            f"/instances/{proxied.a.instance_id}/files", params={"path": "notes"}
        )
        assert listing.status_code == 200, listing.text
        assert [e["name"] for e in listing.json()["entries"]] == ["a.md"]
        read = await api.get(
            f"/instances/{proxied.a.instance_id}/files/read", params={"path": "notes/a.md"}
        )
    assert read.json()["content"] == "plan\n"
    assert read.json()["truncated"] is False


async def test_paths_out_of_claude_data_are_refused(proxied: Proxied) -> None:
    exec_in(proxied.a.container, "ln -sfn /etc /claude-data/etc-link")
    async with proxied.api(proxied.a) as api:
        for path in ("../../etc/passwd", "/etc/passwd", "etc-link/passwd"):
            response = await api.get(
                f"/instances/{proxied.a.instance_id}/files/read", params={"path": path}
            )
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"] == "OutsideData"
            assert "root:" not in response.text


async def test_clone_over_http_then_listed_with_its_remote(
    proxied: Proxied, git_server: GitServer
) -> None:
    url = git_server.url(proxied.bridge_gateway())
    async with proxied.api(proxied.a) as api:
        cloned = await api.post(
            f"/instances/{proxied.a.instance_id}/projects/clone", json={"url": url}
        )
        assert cloned.status_code == 201, cloned.text
        projects = (await api.get(f"/instances/{proxied.a.instance_id}/projects")).json()
        again = await api.post(
            f"/instances/{proxied.a.instance_id}/projects/clone", json={"url": url}
        )
    assert {"name": "hello-repo", "path": "hello-repo", "remote": url, "branch": "main"} in projects
    assert again.status_code == 409
    code, text = exec_in(proxied.a.container, "cat /claude-data/hello-repo/README.md")
    assert (code, text) == (0, "# hello-repo\n")


@pytest.mark.parametrize(
    "url", ["--upload-pack=touch /tmp/pwned", "file:///etc", "ext::sh -c touch% /tmp/pwned"]
)
async def test_dangerous_clone_urls_are_refused(proxied: Proxied, url: str) -> None:
    async with proxied.api(proxied.a) as api:
        response = await api.post(
            f"/instances/{proxied.a.instance_id}/projects/clone", json={"url": url}
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "BadRepositoryUrl"
    assert exec_in(proxied.a.container, "test -e /tmp/pwned")[0] != 0
