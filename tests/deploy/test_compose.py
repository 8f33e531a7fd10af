"""The production-shaped stack (``deploy/compose.yaml``) on the real engine, as an operator runs
it with Debian's docker-compose 1.29: images built locally, every container healthy, a user
signs in (the link from the SMTP catcher) and gets a workstation through the gateway; one NATS
node is killed and the platform keeps working with nothing accepted lost; the node comes back
and rejoins the cluster; ``down -v`` leaves nothing behind.

The stack is a compose project of its own (its own name, subnet, instance network, deployment
label and random host ports), so it never meets another run's. Phase timings are printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml

from devstack.engine import ROOT
from tests.support import eventually, require_docker_engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
BUILD_SCRIPT = ROOT / "deploy" / "build.sh"
PROFILES = ("mail", "otel", "mesh")
NATS_NODES = ("nats-1", "nats-2", "nats-3")
STREAMS = ("CMD", "EVT", "DLQ")
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
DEPLOYMENT_LABEL = "io.claudecloud.deployment"
SIGN_IN_LINK = re.compile(r"/auth/verify\?token=([\w.\-%]+)")
FINAL = {"create": "running", "pause": "frozen", "wake": "running", "destroy": "destroyed"}
"""Where each command ends: a user's pause keeps memory unless told otherwise
(``GATEWAY_PAUSE_KEEPS_MEMORY``)."""


@dataclass
class Timings:
    """How long each phase took, printed at the end whatever happened."""

    phases: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.phases.append((name, time.monotonic() - began))

    def report(self) -> str:
        lines = [f"  {name:<56} {seconds:7.1f} s" for name, seconds in self.phases]
        total = time.monotonic() - self.started
        total_line = f"  {'total':<56} {total:7.1f} s"
        return "\n".join(["compose stack timings:", *lines, total_line, *self.notes])


@dataclass
class Command:
    """A command the gateway accepted (202), and the state it must end in."""

    verb: str
    instance_id: str
    during_outage: bool


class ComposeStack:
    """One compose project of ``deploy/compose.yaml``, driven with ``docker-compose``."""

    def __init__(self, engine: Any, project: str, env: dict[str, str]) -> None:
        self.engine = engine
        self.project = project
        self.env = env

    def compose(self, *args: str, timeout: float = 600) -> str:
        profiles = [arg for p in PROFILES for arg in ("--profile", p)]
        argv = ["docker-compose", "-p", self.project, "-f", str(COMPOSE_FILE), *profiles, *args]
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stderr[-4000:]}"
        return done.stdout

    def expected_containers(self) -> dict[str, int]:
        """Every service the file defines (all profiles on) and how many replicas it asks for."""
        config = yaml.safe_load(self.compose("config"))
        return {
            name: int((spec.get("deploy") or {}).get("replicas", 1))
            for name, spec in config["services"].items()
        }

    def containers(self, service: str | None = None) -> list[Any]:
        labels = [f"{PROJECT_LABEL}={self.project}"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        found: list[Any] = self.engine.containers.list(all=True, filters={"label": labels})
        return sorted(found, key=lambda c: c.name)

    def container(self, service: str) -> Any:
        (found,) = self.containers(service)
        return found

    def url(self, service: str, port: int, index: int = 0) -> str:
        container = self.containers(service)[index]
        container.reload()
        binding = container.ports[f"{port}/tcp"][0]
        return f"http://127.0.0.1:{binding['HostPort']}"

    def health(self) -> dict[str, str]:
        states = {}
        for container in self.containers():
            container.reload()
            state = container.attrs["State"]
            states[container.name] = (state.get("Health") or {}).get("Status", state["Status"])
        return states

    def nats_monitor(self, node: str, path: str) -> dict[str, Any]:
        """A NATS node's monitoring endpoint, asked from inside its container (not published)."""
        result = self.container(node).exec_run(
            ["curl", "-fsS", "-m", "3", f"http://127.0.0.1:8222{path}"]
        )
        assert result.exit_code == 0, result.output[-500:]
        body: dict[str, Any] = json.loads(result.output)
        return body


def _free_subnet(engine: Any) -> ipaddress.IPv4Network:
    taken = [
        ipaddress.ip_network(config["Subnet"])
        for network in engine.networks.list(greedy=True)
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []
        if "Subnet" in config and ":" not in config["Subnet"]
    ]
    for _ in range(200):
        candidate = ipaddress.IPv4Network(
            f"10.{secrets.choice(range(200, 250))}.{secrets.randbelow(256)}.0/24"
        )
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    raise AssertionError("no free /24 under 10.200.0.0/13 for the stack's backend network")


def _environment(engine: Any, project: str) -> dict[str, str]:
    """What an operator puts in deploy/.env: fresh secrets, and this run's own names and ports.
    Nothing else of the test's environment reaches the stack."""
    subnet = _free_subnet(engine)
    socket = Path(
        os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    )
    secret = {
        name: secrets.token_urlsafe(48)
        for name in ("JWT_SECRET", "CREDENTIALS_KEY", "ADMIN_API_KEY", "WEBHOOKS_SECRETS_KEY")
    }
    passwords = {
        f"{name}_PASSWORD": secrets.token_urlsafe(24)
        for name in (
            "POSTGRES",
            *(
                f"{s}_DB"
                for s in (
                    "GATEWAY",
                    "PROVISIONER",
                    "BILLING",
                    "ACTIVITY",
                    "NETBIRD",
                    "AUDIT",
                    "WEBHOOKS",
                )
            ),
        )
    }
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        **{k: os.environ[k] for k in ("DOCKER_HOST",) if k in os.environ},
        **secret,
        **passwords,
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "RATE_LIMIT_API": "1200/minute",  # this one client polls hard; sign-in keeps 5/minute
        "BASE_URL": "http://localhost:8000",
        "SMTP_HOST": "mail",
        "SMTP_PORT": "1025",
        "SMTP_STARTTLS": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
        "NETBIRD_API_TOKEN": secrets.token_urlsafe(24),
        "NETBIRD_API_URL": "http://netbird.invalid",
        "DOCKER_GID": str(socket.stat().st_gid),
        "DOCKER_SOCKET": str(socket),
        "GATEWAY_PORTS": "127.0.0.1:",
        "BILLING_PORTS": "127.0.0.1:",
        "MAIL_PORTS": "127.0.0.1:",
        "BACKEND_SUBNET": str(subnet),
        "AGENT_PUBLISH_HOST": str(subnet.network_address + 1),
        "INSTANCE_NETWORK": f"{project}-instances",
        "DEPLOYMENT": project,
    }


class Platform:
    """The stack's public face, as a user and an API client see it."""

    def __init__(self, stack: ComposeStack) -> None:
        self.stack = stack
        self.gateways = [
            stack.url("gateway", 8000, i) for i in range(len(stack.containers("gateway")))
        ]
        self.mail = stack.url("mail", 8025)
        self.accepted: list[Command] = []
        self.unavailable = 0  # 503s while the bus failed over: refused, never accepted
        self._turn = 0

    def gateway(self) -> str:
        """The replicas in turn: a session made on one works on the other."""
        self._turn += 1
        return self.gateways[self._turn % len(self.gateways)]

    async def sign_in(self, email: str) -> dict[str, str]:
        async with httpx.AsyncClient(timeout=30) as client:
            asked = await client.post(f"{self.gateway()}/auth/login", json={"email": email})
            assert asked.status_code == 202, asked.text

            async def link() -> str | None:
                mails = (await client.get(f"{self.mail}/messages")).json()
                for mail in reversed(mails):
                    found = SIGN_IN_LINK.search(mail["text"])
                    if email in mail["to"] and found:
                        return found.group(1)
                return None

            token = await eventually(link, timeout=60, interval=0.5, what=f"a mail to {email}")
            verified = await client.post(
                f"{self.gateway()}/auth/verify",
                json={"token": token},
                headers={"Accept": "application/json"},
            )
            assert verified.status_code == 200, verified.text
            return {"Authorization": f"Bearer {verified.json()['token']}"}

    async def login_limit_is_shared(self) -> None:
        """Sign-in requests from one address, alternating between the replicas, are refused
        (429) once the address used its 5 a minute in total, not 5 per replica (the counters
        live in Redis)."""
        answered = []
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(6):
                gateway = self.gateway()
                asked = await client.post(
                    f"{gateway}/auth/login", json={"email": "carol@example.com"}
                )
                answered.append((gateway, asked.status_code))
                if asked.status_code == 429:
                    assert int(asked.headers["Retry-After"]) > 0
                    break
        assert answered[-1][1] == 429, answered
        assert {gateway for gateway, _ in answered} == set(self.gateways), answered

    async def command(
        self,
        auth: dict[str, str],
        verb: str,
        instance_id: str | None = None,
        *,
        during_outage: bool = False,
        for_user: str | None = None,
    ) -> str:
        """Send ``verb`` until the gateway accepts it (202): a 503 (bus failing over) is a
        refusal the client retries with the same Idempotency-Key; returns the instance id.
        ``for_user``: an operator's create for that user (with the admin key)."""
        headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        body = {"user_id": for_user} if for_user else None

        async def accepted() -> str | None:
            async with httpx.AsyncClient(base_url=self.gateway(), timeout=30) as client:
                if verb == "create":
                    answer = await client.post("/instances", json=body, headers=headers)
                elif verb == "destroy":
                    answer = await client.delete(
                        f"/instances/{instance_id}", params={"purge": "true"}, headers=headers
                    )
                else:
                    answer = await client.post(f"/instances/{instance_id}/{verb}", headers=headers)
            if answer.status_code == 503:
                self.unavailable += 1
                return None
            assert answer.status_code == 202, f"{verb}: {answer.status_code} {answer.text}"
            found: str = answer.json()["id"]
            return found

        found: str = await eventually(accepted, timeout=120, interval=0.5, what=f"{verb} accepted")
        self.accepted.append(Command(verb, found, during_outage))
        return found

    async def status(self, auth: dict[str, str], instance_id: str) -> str | None:
        async with httpx.AsyncClient(base_url=self.gateway(), timeout=30) as client:
            answer = await client.get(f"/instances/{instance_id}", headers=auth)
        if answer.status_code != 200:
            return None  # the bus failing over: the read is retried
        view = answer.json()
        assert view["status"] != "failed", view
        status: str = view["status"]
        return status

    async def reaches(
        self, auth: dict[str, str], instance_id: str, status: str, timeout: float = 240
    ) -> None:
        async def there() -> bool:
            return await self.status(auth, instance_id) == status

        await eventually(there, timeout=timeout, interval=0.5, what=f"{instance_id} {status}")


def _one_image_without_secrets(stack: ComposeStack, engine: Any) -> None:
    """Every service runs the one service image, and nothing secret is baked into it."""
    image = engine.images.get("claudecloud/service:latest")
    services = ("gateway", "provisioner", "billing", "activity", "netbird", "audit", "webhooks")
    assert {c.image.id for s in services for c in stack.containers(s)} == {image.id}
    baked = [e for e in image.attrs["Config"]["Env"] if re.search(r"SECRET|KEY|PASSWORD|TOKEN", e)]
    assert baked == []
    assert image.attrs["Config"]["User"] == "claudecloud"


def _restarted(stack: ComposeStack) -> dict[str, int]:
    """Containers the engine restarted on its own (a crash), by name."""
    counts = {}
    for container in stack.containers():
        container.reload()
        counts[container.name] = int(container.attrs["RestartCount"])
    return {name: count for name, count in counts.items() if count}


def _traced(stack: ComposeStack, *services: str) -> bool:
    """The otel profile's collector printed spans of each of ``services``."""
    printed = stack.container("otel-collector").logs().decode(errors="replace")
    return all(f'"service": "{service}"' in printed for service in services)


def _meta(stack: ComposeStack, node: str) -> dict[str, Any]:
    meta: dict[str, Any] = stack.nats_monitor(node, "/jsz")["meta_cluster"]
    return meta


def _rejoined(stack: ComposeStack, node: str) -> bool:
    """``node`` answers healthy, the meta group counts three peers all current, and every
    stream is kept on three servers, each replica current, as its leader sees it."""
    try:
        stack.nats_monitor(node, "/healthz")
        meta = _meta(stack, node)
        leader = meta.get("leader")
        if not leader or meta.get("cluster_size") != len(NATS_NODES):
            return False
        meta = _meta(stack, leader)
        peers = {leader, *(r["name"] for r in meta.get("replicas") or [] if r.get("current"))}
        if peers != set(NATS_NODES):
            return False
        return all(_stream_current(stack, name) for name in STREAMS)
    except (AssertionError, ValueError, KeyError, docker.errors.APIError):
        return False


def _stream_current(stack: ComposeStack, name: str) -> bool:
    details = {}
    for node in NATS_NODES:
        for account in stack.nats_monitor(node, "/jsz?streams=true&config=true").get(
            "account_details", []
        ):
            for stream in account.get("stream_detail") or []:
                if stream["name"] == name and stream["cluster"].get("leader") == node:
                    details = stream
    if not details:
        return False
    replicas = details["cluster"].get("replicas") or []
    names = {details["cluster"]["leader"], *(r["name"] for r in replicas if r.get("current"))}
    return details["config"]["num_replicas"] == len(NATS_NODES) and names == set(NATS_NODES)


def _stream_leader(stack: ComposeStack, name: str) -> str:
    for account in stack.nats_monitor("nats-1", "/jsz?streams=true").get("account_details", []):
        for stream in account.get("stream_detail") or []:
            if stream["name"] == name:
                leader: str = stream["cluster"]["leader"]
                return leader
    raise AssertionError(f"no {name} stream")


def _stream_messages(stack: ComposeStack, node: str, name: str) -> int:
    for account in stack.nats_monitor(node, "/jsz?streams=true").get("account_details", []):
        for stream in account.get("stream_detail") or []:
            if stream["name"] == name:
                return int(stream["state"]["messages"])
    raise AssertionError(f"no {name} stream on {node}")


def _leftovers(engine: Any, stack: ComposeStack) -> dict[str, list[str]]:
    project = {"label": [f"{PROJECT_LABEL}={stack.project}"]}
    ours = {"label": [f"{DEPLOYMENT_LABEL}={stack.project}"]}
    return {
        "containers": [c.name for c in engine.containers.list(all=True, filters=project)],
        "networks": [n.name for n in engine.networks.list(filters=project)]
        + [n.name for n in engine.networks.list(names=[stack.env["INSTANCE_NETWORK"]])],
        "volumes": [v.name for v in engine.volumes.list(filters=project)],
        "workstations": [c.name for c in engine.containers.list(all=True, filters=ours)],
        "workstation volumes": [v.name for v in engine.volumes.list(filters=ours)],
    }


@pytest.fixture
def engine() -> Iterator[Any]:
    require_docker_engine()
    if shutil.which("docker-compose") is None:
        pytest.fail(
            "docker-compose is not installed: make test-tools (apt-get install docker-compose)"
        )
    client = docker.from_env(version="1.41", timeout=120)
    yield client
    client.close()


@pytest.fixture
async def stack(engine: Any) -> AsyncIterator[ComposeStack]:
    """A compose project of its own; whatever a failed test left is removed at the end."""
    project = f"cctest{uuid.uuid4().hex[:8]}"
    found = ComposeStack(engine, project, _environment(engine, project))
    try:
        yield found
    finally:
        for container in engine.containers.list(
            all=True, filters={"label": [f"{DEPLOYMENT_LABEL}={project}"]}
        ):
            container.remove(force=True, v=True)
        with contextlib.suppress(AssertionError):
            found.compose("down", "-v", "--remove-orphans", "--timeout", "5")
        for volume in engine.volumes.list(filters={"label": [f"{DEPLOYMENT_LABEL}={project}"]}):
            volume.remove(force=True)


async def test_the_stack_serves_through_a_nats_node_loss_and_leaves_nothing_behind(
    stack: ComposeStack, engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    timings = Timings()
    try:
        await _exercise(stack, engine, timings)
    finally:
        with capsys.disabled():
            print("\n" + timings.report())


async def _exercise(stack: ComposeStack, engine: Any, timings: Timings) -> None:
    with timings.phase("images (deploy/build.sh; cached when up to date)"):
        uv = shutil.which("uv") or "python3 -m uv"  # as the Makefile finds it
        built = await asyncio.to_thread(
            subprocess.run, ["bash", str(BUILD_SCRIPT)], env={**os.environ, "UV": uv}, check=False
        )
        assert built.returncode == 0, "deploy/build.sh failed"

    with timings.phase("docker-compose up -d"):
        expected = stack.expected_containers()
        stack.compose("up", "-d", timeout=900)
    with timings.phase("every container healthy"):
        count = sum(expected.values())

        def all_healthy() -> dict[str, str] | None:
            states = stack.health()
            ok = len(states) == count and all(s == "healthy" for s in states.values())
            return states if ok else None

        await eventually(all_healthy, timeout=300, interval=1, what=f"{count} healthy containers")
        for service, replicas in expected.items():
            assert len(stack.containers(service)) == replicas, service
    assert expected["gateway"] >= 2
    assert expected["provisioner"] >= 2
    _one_image_without_secrets(stack, engine)
    assert all(_meta(stack, node)["cluster_size"] == 3 for node in NATS_NODES)
    assert all(_stream_current(stack, name) for name in STREAMS), "streams not kept three times"

    platform = Platform(stack)
    with timings.phase("sign in (link from the SMTP catcher)"):
        ann = await platform.sign_in("ann@example.com")
        bob = await platform.sign_in("bob@example.com")
    with timings.phase("the sign-in limit is one for all gateway replicas"):
        await platform.login_limit_is_shared()
    with timings.phase("create -> running (a workstation container)"):
        first = await platform.command(ann, "create")
        await platform.reaches(ann, first, "running")
    await eventually(
        lambda: _traced(stack, "gateway", "provisioner"), timeout=30, what="spans in the collector"
    )
    workstations = engine.containers.list(
        filters={"label": [f"{DEPLOYMENT_LABEL}={stack.project}"]}
    )
    assert [c.status for c in workstations] == ["running"]
    assert workstations[0].attrs["Config"]["Image"] == "claudecloud/instance:latest"

    victim = _stream_leader(stack, "CMD")  # where every command is written: the hardest loss
    admin = {"X-API-Key": stack.env["ADMIN_API_KEY"]}
    with timings.phase(f"kill {victim} (CMD's leader) amid 5 commands; all final"):
        # The node dies while the commands are in flight: a pause, another user's create, and
        # an operator's creates for three more users.
        _, _, second, *more = await asyncio.gather(
            asyncio.to_thread(stack.container(victim).kill),
            platform.command(ann, "pause", first, during_outage=True),
            platform.command(bob, "create", during_outage=True),
            *(
                platform.command(admin, "create", during_outage=True, for_user=str(uuid.uuid4()))
                for _ in range(3)
            ),
        )
        await platform.reaches(ann, first, FINAL["pause"])
        for instance_id, auth in [(second, bob), *((i, admin) for i in more)]:
            await platform.reaches(auth, instance_id, "running")
    with timings.phase("node still down: wake"):
        await platform.command(ann, "wake", first, during_outage=True)
        await platform.reaches(ann, first, "running")
    stack.container(victim).reload()
    assert stack.container(victim).status == "exited", "the killed node came back behind our back"

    with timings.phase(f"docker start {victim} -> rejoined, streams current"):
        stack.container(victim).start()
        await eventually(
            lambda: _rejoined(stack, victim), timeout=180, interval=1, what=f"{victim} rejoined"
        )
    with timings.phase("after the rejoin: pause and wake"):
        await platform.command(bob, "pause", second)
        await platform.reaches(bob, second, FINAL["pause"])
        await platform.command(bob, "wake", second)
        await platform.reaches(bob, second, "running")

    # Nothing accepted is lost: each instance is in the state its last accepted command asked
    # for (each was seen reaching it above), the CMD work queue is empty (every command was
    # consumed) and nothing was dead-lettered.
    owners = {first: ann, second: bob, **dict.fromkeys(more, admin)}
    last = {c.instance_id: c for c in platform.accepted}
    assert set(last) == set(owners)
    for instance_id, command in last.items():
        status = await platform.status(owners[instance_id], instance_id)
        assert status == FINAL[command.verb], f"{command}: ended {status}"
    assert sum(c.during_outage for c in platform.accepted) == 6
    running = engine.containers.list(filters={"label": [f"{DEPLOYMENT_LABEL}={stack.project}"]})
    assert len(running) == len(owners)
    await eventually(
        lambda: _stream_messages(stack, victim, "CMD") == 0, timeout=60, what="CMD drained"
    )
    assert _stream_messages(stack, victim, "DLQ") == 0

    timings.notes.append(
        f"  503s while the bus failed over (refused, retried): {platform.unavailable}"
    )
    assert _restarted(stack) == {}, "a container crashed and was restarted"
    with timings.phase("destroy (purge) -> destroyed"):
        for instance_id, auth in owners.items():
            await platform.command(auth, "destroy", instance_id)
        for instance_id, auth in owners.items():
            await platform.reaches(auth, instance_id, "destroyed")
    with timings.phase("docker-compose down -v"):
        stack.compose("down", "-v", "--timeout", "10")
    left = _leftovers(engine, stack)
    assert not any(left.values()), f"left behind: {left}"


REQUIRED = (
    "JWT_SECRET",
    "CREDENTIALS_KEY",
    "ADMIN_API_KEY",
    "BASE_URL",
    "SMTP_HOST",
    "POSTGRES_PASSWORD",
    "GATEWAY_DB_PASSWORD",
    "PROVISIONER_DB_PASSWORD",
    "BILLING_DB_PASSWORD",
    "ACTIVITY_DB_PASSWORD",
    "NETBIRD_DB_PASSWORD",
    "AUDIT_DB_PASSWORD",
    "WEBHOOKS_DB_PASSWORD",
    "WEBHOOKS_SECRETS_KEY",
    "REDIS_PASSWORD",
    "DOCKER_GID",
)


def test_the_file_refuses_to_start_without_each_required_setting(engine: Any) -> None:
    """Each secret left out stops docker-compose before anything starts, naming it; with all
    of them the file reads."""
    stack = ComposeStack(engine, "cccheck", _environment(engine, "cccheck"))
    stack.compose("config", "-q")
    for name in REQUIRED:
        without = ComposeStack(engine, "cccheck", {k: v for k, v in stack.env.items() if k != name})
        with pytest.raises(AssertionError, match=f"set {name}"):
            without.compose("config", "-q")
