"""Where an endpoint may point. In production settings a URL that is or resolves to a loopback,
private, link-local or metadata address is refused at registration, and again at every delivery
(a name that resolved to a public address may later resolve to 127.0.0.1); a delivery connects
to the address that was checked, never to a second lookup's answer. Development settings allow
private addresses (the tests' receivers are on 127.0.0.1)."""

from __future__ import annotations

import uuid
from ipaddress import ip_address
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from claudecloud_common.rpc import RemoteError
from claudecloud_common.settings import ConfigurationError, Environment
from tests.support import eventually
from webhooks.addresses import why_blocked
from webhooks.settings import WebhooksSettings

from .conftest import KEY, Replica, deliveries, publish, register, running
from .receiver import Receiver

PUBLIC = "93.184.216.34"


class Dns:
    """A resolver whose answers the test sets (DNS is the process boundary here), and which
    counts how often it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.answers.get(host, []))


def production(**values: Any) -> dict[str, Any]:
    return {"environment": Environment.PRODUCTION, "secrets_key": KEY, **values}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("169.254.169.254", True),
        ("10.1.2.3", True),
        ("172.20.0.5", True),
        ("192.168.1.1", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),  # noqa: S104 (an address to refuse, not one to bind)
        ("::1", True),
        ("fd00:ec2::254", True),
        ("fe80::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:169.254.169.254", True),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("224.0.0.1", True),
        (PUBLIC, False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_which_addresses_a_delivery_may_reach(address: str, blocked: bool) -> None:
    assert (why_blocked(ip_address(address)) is not None) is blocked


@pytest.mark.unit
def test_production_turns_the_refusal_on_and_will_not_have_it_off() -> None:
    assert not WebhooksSettings(
        **production(database_url="postgresql+asyncpg://x/y")
    ).private_addresses_allowed
    assert WebhooksSettings().private_addresses_allowed  # development: the tests' receivers
    with pytest.raises(ConfigurationError, match="WEBHOOKS_ALLOW_PRIVATE_ADDRESSES must be off"):
        WebhooksSettings(**production(database_url="x", allow_private_addresses=True))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8443/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://localhost/hook",  # a name: it resolves to 127.0.0.1
        "https://loopback.example.test/hook",
        "https://metadata.example.test/computeMetadata/v1/",
    ],
)
async def test_a_url_resolving_to_loopback_or_metadata_is_refused_in_production(
    bus: NatsClient, replica: Replica, url: str
) -> None:
    dns = Dns(
        {
            "localhost": ["127.0.0.1"],
            "loopback.example.test": [PUBLIC, "127.0.0.1"],  # one bad answer is enough
            "metadata.example.test": ["169.254.169.254"],
        }
    )
    async with replica(resolve=dns, **production()):
        with pytest.raises(RemoteError) as refused:
            await register(bus, uuid.uuid4(), url)
    assert (refused.value.status_code, refused.value.error) == (400, "AddressRefused")
    assert "refused" in refused.value.detail


async def test_production_refuses_plain_http_and_credentials_in_the_url(
    bus: NatsClient, replica: Replica
) -> None:
    dns = Dns({"hooks.example.test": [PUBLIC]})
    async with replica(resolve=dns, **production()):
        for url in ("http://hooks.example.test/hook", "https://me:pw@hooks.example.test/hook"):
            with pytest.raises(RemoteError) as refused:
                await register(bus, uuid.uuid4(), url)
            assert refused.value.error == "InvalidEndpointUrl"
        accepted = await register(bus, uuid.uuid4(), "https://hooks.example.test/hook")
    assert accepted.url == "https://hooks.example.test/hook"


async def test_a_name_that_resolves_to_loopback_by_delivery_time_is_refused_then(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    host = "rebinding.example.test"
    dns = Dns({host: [PUBLIC]})
    user = uuid.uuid4()
    async with replica(resolve=dns, **production(retry_window_seconds=60)):
        endpoint = await register(bus, user, f"https://{host}:{receiver.port}/hook")
        dns.answers[host] = ["127.0.0.1"]  # the name now points at the platform itself
        await publish(bus, running(user))

        async def refused() -> object:
            log = await deliveries(bus, user, endpoint.id)
            tried = log.items and log.items[0].attempts >= 1
            return log.items[0] if tried else None

        delivery = await eventually(refused, what="the delivery tried")
    assert receiver.received == []
    assert "127.0.0.1" in (delivery.last_error or "")
    assert "loopback" in (delivery.last_error or "")


async def test_a_delivery_connects_to_the_address_it_checked_with_the_urls_host(
    bus: NatsClient, replica: Replica, receiver: Receiver
) -> None:
    host = "hooks.example.test"
    dns = Dns({host: ["127.0.0.1"]})  # development settings: a private address is allowed
    user = uuid.uuid4()
    async with replica(resolve=dns):
        await register(bus, user, f"http://{host}:{receiver.port}/hook")
        await publish(bus, running(user))
        [got] = await receiver.got(1)
    assert got.headers["host"] == f"{host}:{receiver.port}"
    assert dns.asked == [host]  # one lookup, checked and used: no second one to race it
