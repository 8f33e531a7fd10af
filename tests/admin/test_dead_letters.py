"""``claude-cloud-admin dead-letters``: what an operator sees of messages a service gave up on,
and replaying one once the cause is fixed."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from claudecloud_admin.bus import DeadLetter
from nats.aio.client import Client as NatsClient

from tests.provisioner_app import ProvisionerFactory
from tests.support import eventually, stream_messages

from .conftest import Admin, bare


def row_of(output: str, marker: str) -> list[str] | None:
    """The columns of the table row that mentions ``marker``."""
    for line in output.splitlines():
        if marker in line:
            return line.split()
    return None


async def test_a_command_that_cannot_be_parsed_is_listed_without_its_secrets(
    bus: NatsClient, provisioner: ProvisionerFactory, admin: Admin
) -> None:
    instance_id = uuid4()
    body = bare(instance_id=instance_id, reason="lunch", agent_secret="s3cret-in-body")
    async with provisioner():
        await bus.jetstream().publish(
            "cmd.instance.pause", body, headers={"Authorization": "Bearer s3cret-in-header"}
        )

        async def listed() -> str | None:
            result = await admin("dead-letters", "list", "--subject", "cmd.instance.pause")
            assert result.exit_code == 0, result.output
            return result.output if str(instance_id) in result.output else None

        output = await eventually(listed, what="the dead letter listed")
    header, row = output.splitlines()[0].split(), row_of(output, str(instance_id))
    assert header == ["SEQ", "SUBJECT", "DELIVERIES", "AGE", "ERROR", "BODY"]
    assert row is not None
    assert row[1:3] == ["cmd.instance.pause", "1"]  # refused at once: retrying cannot help
    assert "ValidationError" in output
    assert '"agent_secret":"***"' in output
    assert "s3cret" not in output


async def test_a_dead_letter_replayed_after_the_outage_takes_effect_once(
    bus: NatsClient,
    provisioner: ProvisionerFactory,
    admin: Admin,
    rename_table: object,
) -> None:
    instance_id, user_id = uuid4(), uuid4()
    async with provisioner() as settings:
        # The instances table is gone (a botched migration): every delivery fails, retries run
        # out, and the create is dead-lettered instead of blocking the consumer.
        await rename_table("instances", "instances_away")  # type: ignore[operator]
        try:
            await bus.jetstream().publish(
                "cmd.instance.create", bare(instance_id=instance_id, user_id=user_id)
            )

            async def dead_lettered() -> list[str] | None:
                result = await admin("dead-letters", "list", "--subject", "cmd.instance.create")
                return row_of(result.output, str(instance_id))

            row = await eventually(dead_lettered, timeout=30, what="the create dead-lettered")
        finally:
            await rename_table("instances_away", "instances")  # type: ignore[operator]
        assert row[1:3] == ["cmd.instance.create", str(settings.bus_max_deliver)]
        seq = row[0]

        replayed = await admin("dead-letters", "replay", seq)
        assert replayed.exit_code == 0, replayed.output
        assert f"#{seq}: replayed to cmd.instance.create as replay-" in replayed.output

        async def running() -> bool:
            reply = await bus.request("rpc.instance.get", bare(instance_id=instance_id), timeout=5)
            return b'"status":"running"' in reply.data

        await eventually(running, what="the replayed create running")

    again = await admin("dead-letters", "replay", seq)
    assert again.exit_code == 1
    assert f"#{seq}: not replayed: no such dead letter" in again.output
    listed = await admin("dead-letters", "list", "--subject", "cmd.instance.create")
    assert str(instance_id) not in listed.output


async def test_replaying_all_on_a_subject_sends_each_again_and_an_unfixed_one_returns(
    bus: NatsClient, provisioner: ProvisionerFactory, admin: Admin
) -> None:
    instance_id = uuid4()
    async with provisioner():
        await bus.jetstream().publish(
            "cmd.instance.wake",
            bare(instance_id=instance_id, when="now"),  # never valid
        )

        async def dead_lettered() -> list[str] | None:
            result = await admin("dead-letters", "list", "--subject", "cmd.instance.wake")
            return row_of(result.output, str(instance_id))

        first = await eventually(dead_lettered, what="the wake dead-lettered")
        replayed = await admin("dead-letters", "replay", "--all", "--subject", "cmd.instance.wake")
        assert replayed.exit_code == 0, replayed.output
        assert f"#{first[0]}: replayed to cmd.instance.wake" in replayed.output

        async def back_again() -> list[str] | None:
            row = await dead_lettered()
            return row if row and row[0] != first[0] else None

        second = await eventually(back_again, what="the unfixed wake dead-lettered again")
    assert int(second[0]) > int(first[0])


async def test_the_admin_says_so_when_the_bus_does_not_answer(admin: Admin) -> None:
    from devstack import free_port

    result = await admin("--nats", f"nats://operator:pw@127.0.0.1:{free_port()}", "lag")
    assert result.exit_code == 1
    assert "cannot reach the bus at nats://127.0.0.1:" in result.output
    assert "pw" not in result.output


async def test_the_command_names_what_to_replay(admin: Admin) -> None:
    result = await admin("dead-letters", "replay")
    assert result.exit_code == 1
    assert "name the dead letters to replay (SEQ ...) or pass --all" in result.output


async def test_a_replay_interrupted_after_its_publish_does_not_send_it_twice(
    bus: NatsClient, provisioner: ProvisionerFactory, admin: Admin
) -> None:
    instance_id = uuid4()
    async with provisioner():
        await bus.jetstream().publish(
            "cmd.instance.pause",
            bare(instance_id=instance_id, reason="lunch"),  # never valid
        )

        async def rows() -> list[list[str]]:
            result = await admin("dead-letters", "list", "--subject", "cmd.instance.pause")
            return [line.split() for line in result.output.splitlines() if str(instance_id) in line]

        seq = int((await eventually(rows, what="the pause dead-lettered"))[0][0])
        # A first replay published, then died before deleting the dead letter: its copy is
        # refused again and dead-lettered again.
        letter = DeadLetter.of(await bus.jetstream().get_msg("DLQ", seq))
        await bus.jetstream().publish(
            letter.original_subject, letter.body, headers=letter.replay_headers()
        )
        await eventually(lambda: _count(rows, 2), what="the first replay dead-lettered again")

        replayed = await admin("dead-letters", "replay", str(seq))
        assert replayed.exit_code == 0, replayed.output
        assert "(already sent by an earlier replay: not sent twice)" in replayed.output
        remaining = await rows()
    assert [int(row[0]) for row in remaining] != [seq]
    assert len(remaining) == 1  # the first replay's, not the original's


async def _count(rows: Any, expected: int) -> bool:
    return len(await rows()) == expected


async def test_a_refused_secret_is_never_quoted_in_the_dead_letter(
    bus: NatsClient, provisioner: ProvisionerFactory, nats_url: str
) -> None:
    instance_id = uuid4()
    body = bare(instance_id=instance_id, agent_secret="s3cret-refused")  # not a pause field
    async with provisioner():
        await bus.jetstream().publish("cmd.instance.pause", body)

        async def dead_letter() -> dict[str, str] | None:
            letters = await stream_messages(nats_url, "DLQ", "dlq.cmd.instance.pause")
            mine = [m for m in letters if str(instance_id) in m.data.decode()]
            return dict(mine[0].headers or {}) if mine else None

        headers = await eventually(dead_letter, what="the pause dead-lettered")
    assert "agent_secret: Extra inputs are not permitted" in headers["Dlq-Error"]
    assert "s3cret" not in headers["Dlq-Error"]
