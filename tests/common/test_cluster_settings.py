"""One setting for one server or a cluster: ``NATS_URL`` as a list of servers, and how many
copies JetStream keeps of each stream (``BUS_STREAM_REPLICAS``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from claudecloud_common.bus import ensure_streams, make_broker
from claudecloud_common.settings import ServiceSettings
from provisioner.settings import ProvisionerSettings
from tests.support import free_port


def test_one_server_is_a_list_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://bus:4222")
    assert ServiceSettings().nats_servers == ["nats://bus:4222"]


def test_a_cluster_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", " nats://nats-1:4222, nats://nats-2:4222,,nats://nats-3:4222 ")
    assert ServiceSettings().nats_servers == [
        "nats://nats-1:4222",
        "nats://nats-2:4222",
        "nats://nats-3:4222",
    ]


def test_a_service_can_be_given_its_own_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://a:4222,nats://b:4222")
    monkeypatch.setenv("PROVISIONER_NATS_URL", "nats://c:4222")
    assert ProvisionerSettings(provider="fake").nats_servers == ["nats://c:4222"]


@pytest.mark.parametrize("value", ["", " , ,"])
def test_no_server_is_refused_at_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NATS_URL", value)
    with pytest.raises(ValidationError, match="NATS_URL names no server"):
        ServiceSettings()


def test_streams_have_one_copy_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUS_STREAM_REPLICAS", raising=False)
    assert ServiceSettings().bus_stream_replicas == 1
    monkeypatch.setenv("BUS_STREAM_REPLICAS", "3")
    assert ServiceSettings().bus_stream_replicas == 3


@pytest.mark.parametrize("value", ["0", "6", "three"])
def test_impossible_replica_counts_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BUS_STREAM_REPLICAS", value)
    with pytest.raises(ValidationError, match="bus_stream_replicas"):
        ServiceSettings()


@pytest.mark.integration
async def test_the_broker_fails_over_to_the_next_server_in_the_list(nats_url: str) -> None:
    """The first server named is down: the service still connects (to the next) and makes its
    streams with the replicas asked for."""
    down = f"nats://127.0.0.1:{free_port()}"
    settings = ServiceSettings(nats_url=f"{down},{nats_url}", bus_stream_replicas=1)
    broker = make_broker(settings)
    await broker.connect()
    try:
        await ensure_streams(broker, replicas=settings.bus_stream_replicas)
        js = broker.connection.jetstream()
        for name in ("CMD", "EVT", "DLQ"):
            info = await js.stream_info(name)
            assert info.config.num_replicas == 1
        assert broker.connection.connected_url is not None
        assert broker.connection.connected_url.port == int(nats_url.rsplit(":", 1)[1])
    finally:
        await broker.stop()
