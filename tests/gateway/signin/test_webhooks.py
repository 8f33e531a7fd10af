"""Users' webhooks on the platform's real processes: a user's receiver on 127.0.0.1 hears their
workstation start running, signed with the secret the gateway answered once; an endpoint that
fails for the whole retry window is turned off and its owner is told by mail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devstack import Stack
from tests.mail import MailCatcher
from tests.support import eventually, free_port
from tests.webhooks.receiver import Receiver

from .conftest import bearer, new_email, sign_in


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


async def test_a_receiver_hears_its_owners_workstation_running_signed(
    anonymous: httpx.AsyncClient, mail: MailCatcher, receiver: Receiver
) -> None:
    session = await sign_in(anonymous, mail, new_email("hooked"))
    me = bearer(session["token"])
    body = {"url": receiver.url, "events": ["instance.running", "instance.failed"]}
    created = await anonymous.post("/me/webhooks", headers=me, json=body)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    instance = await anonymous.post("/instances", headers=me)
    assert instance.status_code == 202, instance.text
    [got] = await receiver.got(1)
    assert got.signed_with(secret)
    assert got.event["type"] == "instance.running"
    assert got.event["data"]["instance_id"] == instance.json()["id"]
    listed = await anonymous.get("/me/webhooks", headers=me)
    assert secret not in listed.text


async def test_an_endpoint_failing_all_window_is_turned_off_and_its_owner_mailed(
    anonymous: httpx.AsyncClient, mail: MailCatcher, stack: Stack
) -> None:
    email = new_email("unreachable")
    me = bearer((await sign_in(anonymous, mail, email))["token"])
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    created = await anonymous.post("/me/webhooks", headers=me, json={"url": dead, "events": ["*"]})
    assert created.status_code == 201, created.text
    await anonymous.post("/instances", headers=me)

    def notice() -> object:
        found = [m for m in mail.mails_to(email) if "turned off" in str(m["Subject"])]
        return found[0] if found else None

    message = await eventually(notice, timeout=60, what="the mail saying the endpoint is off")
    text = message.get_body(("plain",)).get_content()
    assert dead in text
    [endpoint] = (await anonymous.get("/me/webhooks", headers=me)).json()["items"]
    assert endpoint["status"] == "disabled"
    assert "could not reach the endpoint" in endpoint["disabled_reason"]
