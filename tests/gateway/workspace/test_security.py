"""Who may open what, through the gateway: tickets, origins, owners, paused instances, the agent's
own secret, and what reaches the instance."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support import eventually
from tests.ttyd import Terminal

from .conftest import ORIGIN, TICKET_TTL_SECONDS, Proxied, select_shell_pane
from .sniffer import PortSniffer


async def close_of(url: str, **kwargs: object) -> tuple[int, str]:
    """Open ``url`` and return the close code and reason the gateway ends it with."""
    async with websockets.connect(url, **kwargs) as connection:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), 15)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def terminal_url(proxied: Proxied, instance_id: str, ticket: str | None = None) -> str:
    query = f"?ticket={ticket}" if ticket else ""
    return f"{proxied.ws_base}/instances/{instance_id}/terminal{query}"


async def test_b_cannot_open_a_terminal(proxied: Proxied) -> None:
    a, b = proxied.a, proxied.b
    b_ticket = await proxied.ticket(b)
    code, reason = await close_of(terminal_url(proxied, a.instance_id, b_ticket), origin=ORIGIN)
    assert code == 4401
    assert "another instance" in reason
    code, reason = await close_of(terminal_url(proxied, a.instance_id), additional_headers=b.bearer)
    missing_id = str(uuid4())
    missing = await close_of(terminal_url(proxied, missing_id), additional_headers=b.bearer)
    assert code == 4404  # someone else's instance looks exactly like a missing one
    assert (code, reason.replace(a.instance_id, "ID")) == (
        missing[0],
        missing[1].replace(missing_id, "ID"),
    )
    async with proxied.api(b) as api:
        refused = await api.post(f"/instances/{a.instance_id}/tickets")
        files = await api.get(f"/instances/{a.instance_id}/files")
    assert refused.status_code == 404
    assert files.status_code == 404


async def test_a_ticket_works_once_and_expires(proxied: Proxied) -> None:
    ticket = await proxied.ticket(proxied.a)
    url = terminal_url(proxied, proxied.a.instance_id, ticket)
    first = await Terminal.open(url, origin=ORIGIN)
    await first.wait_for(lambda screen: screen.strip() != "")
    await first.close()
    code, reason = await close_of(url, origin=ORIGIN)
    assert code == 4401
    assert "already used" in reason

    late = await proxied.ticket(proxied.a)
    await asyncio.sleep(TICKET_TTL_SECONDS + 0.5)  # waiting out the ticket's lifetime is the test
    code, reason = await close_of(terminal_url(proxied, proxied.a.instance_id, late), origin=ORIGIN)
    assert code == 4401
    assert "expired" in reason


async def test_tickets_and_cookies_need_an_allowed_origin(proxied: Proxied) -> None:
    a = proxied.a
    for origin in ("http://evil.test", None):
        ticket = await proxied.ticket(a)
        code, reason = await close_of(terminal_url(proxied, a.instance_id, ticket), origin=origin)
        assert code == 4403, reason
    cookie = {"Cookie": f"session={a.token}"}
    code, _ = await close_of(terminal_url(proxied, a.instance_id), additional_headers=cookie)
    assert code == 4403
    # A CLI with the bearer header and no Origin is let in.
    cli = await Terminal.open(terminal_url(proxied, a.instance_id), headers=a.bearer)
    await cli.wait_for(lambda screen: screen.strip() != "")
    await cli.close()


async def test_the_agent_refuses_calls_without_its_secret(proxied: Proxied) -> None:
    host = proxied.a.host
    async with httpx.AsyncClient(timeout=10) as client:
        bare = await client.get(f"http://{host}/files")
        with_user_token = await client.get(f"http://{host}/files", headers=proxied.a.bearer)
    assert bare.status_code == 401
    assert with_user_token.status_code == 401
    with pytest.raises(websockets.exceptions.InvalidStatus):
        await websockets.connect(f"ws://{host}/terminal", additional_headers=proxied.a.bearer)


async def test_the_users_token_never_reaches_the_instance(proxied: Proxied) -> None:
    a = proxied.a
    port = int(a.host.rsplit(":", 1)[1])
    cookie = {"Cookie": f"session={a.token}", **a.bearer}
    with PortSniffer(port) as sniffer:
        async with proxied.api(a) as api:
            listed = await api.get(f"/instances/{a.instance_id}/files", headers=cookie)
            assert listed.status_code == 200
        terminal = await Terminal.open(terminal_url(proxied, a.instance_id), headers=a.bearer)
        await terminal.send_keys("echo sniffed\r")
        await terminal.wait_for("sniffed")
        await terminal.close()
        ticket = await proxied.ticket(a)
        opened = await Terminal.open(terminal_url(proxied, a.instance_id, ticket), origin=ORIGIN)
        await opened.wait_for(lambda screen: screen.strip() != "")
        await opened.close()
        await eventually(
            lambda: sniffer.payload.count(b"GET /terminal") == 2, what="the capture saw both"
        )
    seen = bytes(sniffer.payload)
    assert b"GET /files" in seen  # the capture works: both upgrades and the call are in it...
    assert seen.lower().count(b"authorization: bearer") == 3  # ...each with the agent's secret
    assert a.token.encode() not in seen  # ...and the user's token is not in it
    assert ticket.encode() not in seen
    assert b"session=" not in seen


async def test_a_files_call_and_a_ticket_wake_a_stopped_instance(proxied: Proxied) -> None:
    b = proxied.b
    response = await proxied.admin.post(
        f"/instances/{b.instance_id}/pause", json={"keep_memory": False}
    )
    assert response.status_code == 202, response.text

    async def status_is(wanted: str) -> bool:
        view = (await proxied.admin.get(f"/instances/{b.instance_id}")).json()
        return bool(view["status"] == wanted)

    await eventually(lambda: status_is("paused"), timeout=60, what="b paused")
    async with proxied.api(b) as api:
        ticket = await api.post(f"/instances/{b.instance_id}/tickets")  # the socket will wake it
        files = await api.get(f"/instances/{b.instance_id}/files")  # waits until it runs
    assert ticket.status_code == 201, ticket.text
    assert files.status_code == 200, files.text
    assert await status_is("running")
    select_shell_pane(b.container)  # its session is new: as the other tests expect it
