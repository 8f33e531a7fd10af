"""Private repositories on a real workstation: GitHub connected from the CLI (the device flow),
then clone, commit and push from the shell pane and from a chat turn's Bash tool with no setup,
the pushes arriving at the git server under the user's token; the token in no answer, log line,
``docker inspect``, process environment or file; another user's workstation gets nothing; an
expired token refreshed on the next git call; disconnected, git says how to connect.

The tests run in order, as one user's afternoon.
"""

from __future__ import annotations

import asyncio
import json

import httpx

from claudecloud_agentapi import AgentCredential
from tests.support import agent_secret_of

from .conftest import Platform, environ_of, shell

REPO = "octocat/plans"


async def test_the_cli_connects_github_through_the_device_flow(platform: Platform) -> None:
    connecting = await platform.cli(platform.a, "git", "connect", "github")
    assert connecting.stdout is not None
    first = (await asyncio.wait_for(connecting.stdout.readline(), 60)).decode()
    assert first.startswith(f"Open {platform.github.base_url}/login/device and enter the code: ")
    user_code = first.rsplit(" ", 1)[1].strip()

    # The person opens the page in their browser, signed in to GitHub, and enters the code.
    from tests.gateway.git.conftest import enter_device_code

    await enter_device_code(platform.github, "octocat", user_code, "authorize")
    out, err = await asyncio.wait_for(connecting.communicate(), 60)

    assert connecting.returncode == 0, err.decode()
    assert "Connected GitHub as octocat (scopes: repo)." in out.decode()
    status = await platform.cli(platform.a, "git", "status")
    said, _ = await status.communicate()
    assert f"GitHub ({platform.git_host}): connected as octocat (scopes: repo)" in said.decode()


async def test_clone_commit_and_push_from_the_shell_pane(platform: Platform) -> None:
    terminal = await platform.terminal(platform.a)
    try:
        await terminal.send_keys(
            f"cd ~ && git clone -q {platform.repo_url(REPO)} shell-plans && cd shell-plans"
            " && echo hi > from-shell.txt && git add . && git -c user.name=A"
            " -c user.email=a@example.com commit -qm 'from the shell pane'"
            " && git push -q origin main && echo PUSHED-$((6*7))-OK\r"
        )
        await terminal.wait_for("PUSHED-42-OK", timeout=90)
    finally:
        await terminal.close()

    assert platform.git.log(REPO)[0] == "from the shell pane"
    push = platform.git.pushes(REPO)[-1]
    assert push.login == "octocat"
    assert push.token in platform.github.working_tokens("octocat")


async def test_claude_in_the_terminal_reaches_it_too(platform: Platform) -> None:
    # What Claude Code's Bash tool starts in the Claude pane inherits that claude's environment:
    # git run with exactly that environment gets the token with no setup.
    code, said = shell(
        platform.a,
        "for p in $(pgrep -f /usr/local/bin/claude); do"
        " tr '\\0' ' ' </proc/$p/cmdline | grep -q stream-json || { echo $p; break; }; done",
    )
    assert code == 0, said
    assert said.strip().isdigit(), f"no claude in the Claude pane: {said!r}"
    code, said = shell(
        platform.a,
        f"cd /tmp && xargs -0 -a /proc/{said.strip()}/environ sh -c"
        f" 'exec env -i \"$@\" git ls-remote {platform.repo_url(REPO)} main' _",
    )
    assert code == 0, said
    assert "refs/heads/main" in said
    assert platform.git.requests[-1].login == "octocat"


async def test_a_chat_turn_pushes_with_its_bash_tool(platform: Platform) -> None:
    events = await platform.chat_turn(
        platform.a,
        "Please push my plan.\n"
        f"run: cd ~ && git clone -q {platform.repo_url(REPO)} chat-plans && cd chat-plans"
        " && git pull -q && echo plan > from-chat.txt && git add . && git -c user.name=Claude"
        " -c user.email=claude@example.com commit -qm 'from the chat' && git push -q origin main",
    )

    results = [e for e in events if e["type"] == "tool_result"]
    assert results, events
    assert results[0]["is_error"] is False, results[0]["content"]
    assert "exit code 0" in results[0]["content"]
    assert events[-1]["type"] == "done"
    assert platform.git.log(REPO)[0] == "from the chat"
    assert platform.git.pushes(REPO)[-1].login == "octocat"


async def test_the_projects_list_and_a_clone_by_name(platform: Platform) -> None:
    listed = await platform.call(platform.a, "GET", "/me/git/github/repos")
    [plans] = [r for r in listed.json()["repositories"] if r["full_name"] == REPO]
    assert (plans["private"], plans["default_branch"]) == (True, "main")

    cloning = await platform.cli(platform.a, "clone", REPO, "--name", "cli-plans")
    out, err = await asyncio.wait_for(cloning.communicate(), 300)

    assert cloning.returncode == 0, err.decode()
    assert "Cloned octocat/plans into ~/cli-plans" in out.decode()
    projects = await platform.call(
        platform.a, "GET", f"/instances/{platform.a.instance_id}/projects"
    )
    found = {p["path"]: p for p in projects.json()}
    assert found["cli-plans"]["remote"] == platform.repo_url(REPO)


async def test_the_ssh_key_is_shown(platform: Platform) -> None:
    shown = await platform.call(platform.a, "GET", f"/instances/{platform.a.instance_id}/ssh-key")
    assert shown.status_code == 200, shown.text
    code, public = shell(platform.a, "cat .ssh/id_ed25519.pub && stat -c %a .ssh/id_ed25519")
    assert code == 0, public
    key_line, mode = public.strip().splitlines()
    assert shown.json()["public_key"] == key_line
    assert mode == "600"
    printed = await platform.cli(platform.a, "ssh-key")
    out, _ = await printed.communicate()
    assert out.decode().strip() == key_line


async def test_a_chat_turns_bash_tool_finds_no_agent_secret(platform: Platform) -> None:
    """What Claude's Bash tool reads in a chat turn (the file the machine keeps, its own
    environment, every process's) holds no agent secret: the machine keeps only a verifier."""
    secret = agent_secret_of(platform.stack, platform.a.instance_id)
    events = await platform.chat_turn(
        platform.a,
        "Look around.\nrun: cat /etc/claudecloud/agent-secret; echo; env;"
        " cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'",
    )
    [result] = [e for e in events if e["type"] == "tool_result"]
    seen = str(result["content"])
    assert seen.startswith("agent-credential:v1:"), seen[:200]
    assert "AGENT_GATEWAY_URL=" in seen  # the environments were read
    assert secret not in seen


async def test_the_token_is_nowhere_else(platform: Platform) -> None:
    tokens = platform.github.every_token()
    assert tokens
    a = platform.a
    inspected = json.dumps(platform.engine.api.inspect_container(a.container.id))
    environments = environ_of(a)
    assert "AGENT_GATEWAY_URL=" in environments  # the address, not a secret, is there
    logs = "".join(p.read_text() for p in platform.stack.config.log_dir.glob("*.log"))  # type: ignore[union-attr]
    container_logs = a.container.logs().decode(errors="replace")
    needles = "\n".join(tokens)
    _code, found = shell(
        a, f"grep -rlF -e {' -e '.join(tokens)} /claude-data /opt/claudecloud/run /tmp || true"
    )
    for token in tokens:
        assert token not in inspected, "in docker inspect"
        assert token not in environments, "in a process environment"
        assert token not in logs, "in a log line"
        assert token not in container_logs, "in the container's log"
        assert not any(token in answer for answer in platform.answers), "in an API answer"
    assert found.strip() == "", f"in files: {found}"
    assert needles


async def test_another_users_workstation_gets_nothing(platform: Platform) -> None:
    b = platform.b
    code, said = shell(b, f"git clone {platform.repo_url(REPO)} stolen")
    assert code != 0
    assert "connect GitHub: open " in said
    assert "octocat" not in said

    # B's agent naming A's instance, with all that B's machine holds (its token to the gateway),
    # at the gateway's workstation listener.
    code, kept = shell(b, "cat /etc/claudecloud/agent-secret")
    assert code == 0
    token = AgentCredential.parse(kept).token
    async with httpx.AsyncClient(base_url=platform.workstations_url, timeout=30) as workstations:
        refused = await workstations.post(
            f"/agent/instances/{platform.a.instance_id}/git/credential",
            json={"protocol": "http", "host": f"host.docker.internal:{platform.git.port}"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert (refused.status_code, refused.json()["error"]) == (401, "AgentNotRecognised")
    assert all(r.login in (None, "octocat") for r in platform.git.requests)
    assert not any(r.token and r.login is None and r.status == 200 for r in platform.git.requests)


async def test_an_expired_token_is_refreshed_on_the_next_git_call(platform: Platform) -> None:
    github = platform.github
    github.expiring, github.access_lifetime = True, 60  # a GitHub App's eight-hour tokens, say
    await platform.connect_by_api(platform.a)
    [connected] = github.working_tokens("octocat")[-1:]
    github.let_time_pass(120)  # ... and the afternoon went by: it expired
    github.access_lifetime = 28800
    assert github.token_owner(connected) is None

    code, said = shell(platform.a, "cd shell-plans && git fetch && git pull -q && echo FETCHED")

    assert code == 0, said
    assert "FETCHED" in said
    last = platform.git.requests[-1]
    assert last.login == "octocat"
    assert last.token != connected
    assert github.count("POST /login/oauth/access_token refresh_token") == 1


async def test_disconnected_git_says_how_to_connect(platform: Platform) -> None:
    gone = await platform.call(platform.a, "DELETE", "/me/git/github")
    assert gone.status_code == 204
    assert platform.github.working_tokens("octocat") == []  # revoked at GitHub

    code, said = shell(platform.a, "cd shell-plans && git fetch")

    assert code != 0
    assert "connect GitHub: open http://localhost:" in said
    assert "claude-cloud git connect github" in said
