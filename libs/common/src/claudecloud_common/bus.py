"""The bus: one broker factory, the streams, durable subscribers, publishing, dead letters
(queries, over request-reply, are :mod:`claudecloud_common.rpc`).

Delivery is at-least-once. Effects become exactly-once through three things this module sets up
and the services use: ``Nats-Msg-Id`` on every publish (JetStream drops duplicates within its
window), explicit acknowledgement after the handler's transaction committed, and bounded
redelivery with backoff that ends on ``dlq.<subject>`` instead of silently dropping a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum
from functools import partial
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID, uuid5

from faststream import AckPolicy, BaseMiddleware
from faststream.exceptions import AckMessage, HandlerException, IncorrectState, NackMessage
from faststream.message import StreamMessage
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from pydantic import ValidationError

from .contracts.base import Message
from .errors import AppError, UnavailableError
from .logging import describe_error, get_logger
from .metrics import (
    BUS_DEAD_LETTERS,
    BUS_HANDLED,
    BUS_HANDLER_SECONDS,
    BUS_RETRIES,
    subject_label,
)
from .settings import ServiceSettings
from .telemetry import trace_headers

__all__ = [
    "RetryPolicy",
    "command_subscriber",
    "delivery_attempt",
    "ensure_streams",
    "event_subscriber",
    "make_broker",
    "publish",
    "publish_raw",
]

log = get_logger(__name__)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class HandlerDecorator(Protocol):
    """What the subscriber helpers return: a decorator that keeps the handler's type."""

    def __call__(self, handler: F, /) -> F: ...


DAY = 86_400.0
STREAMS: tuple[StreamConfig, ...] = (
    StreamConfig(
        name="CMD",
        subjects=["cmd.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=7 * DAY,
        duplicate_window=300.0,
    ),
    StreamConfig(
        name="EVT",
        subjects=["evt.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=7 * DAY,
        duplicate_window=300.0,
    ),
    StreamConfig(
        name="DLQ",
        subjects=["dlq.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=30 * DAY,
        duplicate_window=300.0,
    ),
)
_STREAM_BY_PREFIX = {"cmd": "CMD", "evt": "EVT", "dlq": "DLQ"}


class RetryPolicy:
    """How often and how far apart a failing message is retried before it is dead-lettered."""

    def __init__(self, max_deliver: int, backoff: tuple[float, ...]) -> None:
        self.max_deliver = max_deliver
        self.backoff = backoff or (1.0,)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> RetryPolicy:
        return cls(settings.bus_max_deliver, settings.bus_backoff_seconds)

    def delay(self, attempt: int) -> float:
        return self.backoff[min(attempt, len(self.backoff)) - 1]


def make_broker(settings: ServiceSettings) -> NatsBroker:
    """The one way a service gets a broker: reconnects forever, retries and dead-letters."""
    policy = RetryPolicy.from_settings(settings)
    return NatsBroker(
        settings.nats_servers,
        name=settings.service_name,
        # Outermost first: the message's span covers retries and dead-lettering too.
        middlewares=[
            NatsTelemetryMiddleware(include_messages_counters=False),
            partial(DeadLetterMiddleware, policy=policy),
            StableIdMiddleware,
        ],
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        graceful_timeout=15.0,
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,  # per-message "Received"/"Processed" lines only when debugging
    )


async def ensure_streams(broker: NatsBroker, *, replicas: int = 1) -> None:
    """Create the CMD, EVT and DLQ streams, or bring an existing one to our configuration,
    each kept on ``replicas`` servers (``BUS_STREAM_REPLICAS``: 3 on a three-node cluster)."""
    js = broker.connection.jetstream()
    for stream in STREAMS:
        config = dataclasses.replace(stream, num_replicas=replicas)
        try:
            await js.add_stream(config=config)
        except BadRequestError:
            await js.update_stream(config=config)


def _stream_for(subject: str) -> str:
    try:
        return _STREAM_BY_PREFIX[subject.split(".", 1)[0]]
    except KeyError:
        raise ValueError(f"{subject!r} is not a stream subject") from None


def _durable_name(service: str, subject: str) -> str:
    return f"{service}-{subject}".replace(".", "-").replace(">", "all").replace("*", "any")


def command_subscriber(
    broker: NatsBroker, subject: StrEnum, *, settings: ServiceSettings
) -> HandlerDecorator:
    """A work-queue consumer on ``cmd.*``: one durable consumer group shared by all replicas."""
    return _stream_subscriber(broker, subject, settings=settings, deliver_new=False)


def event_subscriber(
    broker: NatsBroker, subject: StrEnum, *, settings: ServiceSettings
) -> HandlerDecorator:
    """This service's own durable consumer on an ``evt.*`` subject (from now on, never replayed
    from the start of the stream on first deploy)."""
    return _stream_subscriber(broker, subject, settings=settings, deliver_new=True)


def _stream_subscriber(
    broker: NatsBroker, subject: StrEnum, *, settings: ServiceSettings, deliver_new: bool
) -> HandlerDecorator:
    config = ConsumerConfig(
        ack_wait=settings.bus_ack_wait_seconds,
        max_deliver=settings.bus_max_deliver + 1,  # one spare delivery to dead-letter after a crash
        deliver_policy=DeliverPolicy.NEW if deliver_new else DeliverPolicy.ALL,
    )
    subscriber = broker.subscriber(
        str(subject),
        stream=JStream(_stream_for(str(subject)), declare=False),
        durable=_durable_name(settings.service_name, str(subject)),
        config=config,
        pull_sub=PullSub(batch_size=min(64, settings.bus_max_workers * 2), timeout=1.0),
        max_workers=settings.bus_max_workers,
        ack_policy=AckPolicy.ACK,
    )
    return cast("HandlerDecorator", subscriber)


def delivery_attempt(message: StreamMessage[Any]) -> int:
    """Which delivery of this message this is (1 on the first), for JetStream messages."""
    try:
        return int(message.raw_message.metadata.num_delivered)
    except (AttributeError, NatsError, TypeError):
        return 1


@contextlib.asynccontextmanager
async def still_working(message: NatsMessage, every: float) -> AsyncIterator[None]:
    """Tell JetStream the message is in hand every ``every`` seconds while its handler runs
    (a third of the ack wait): an outside call longer than the ack wait (a container's boot, a
    slow Netbird) would otherwise have the message handed out again, and the redelivery would
    run beside the first, making the outside call a second time at once (make chaos on Docker
    found it in the provisioner; the netbird saga made a second setup key under load). Should
    the process die, the beats stop and the message is handed out again after the ack wait."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(NatsError):  # the bus away: a redelivery resumes it later
                await message.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(broker: NatsBroker, message: Message) -> None:
    """Publish ``message`` durably on its subject (PubAck awaited); raise
    :class:`UnavailableError` if the bus does not answer. The message id is its ``Nats-Msg-Id``."""
    try:
        await publish_raw(
            broker,
            str(message.subject),
            message.model_dump_json().encode(),
            message_id=str(message.id),
            correlation_id=message.correlation_id,
        )
    except (NatsError, TimeoutError, OSError) as exc:
        raise UnavailableError("the message bus did not answer; try again shortly") from exc


async def publish_raw(
    broker: NatsBroker,
    subject: str,
    payload: bytes,
    *,
    message_id: str,
    correlation_id: str | None,
    extra_headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> None:
    headers = {"Nats-Msg-Id": message_id, "content-type": "application/json", **trace_headers()}
    if correlation_id:
        headers["correlation_id"] = correlation_id  # where FastStream subscribers read it
    headers.update(extra_headers or {})
    # Straight on the NATS client: every event goes this way, and FastStream's publish path
    # costs more than the publish. The PubAck is awaited: the message is durable on return.
    try:
        js = broker.connection.jetstream()
    except IncorrectState as exc:
        raise ConnectionError("not connected to the message bus") from exc
    await js.publish(
        subject, payload, timeout=timeout, stream=_stream_for(subject), headers=headers
    )


BARE_MESSAGE_NAMESPACE = UUID("0b6f1d2e-4c1a-4e8e-9a53-7f0c2d9b6a11")


class StableIdMiddleware(BaseMiddleware):
    """Gives a message published bare (``nats pub`` sends JSON without our envelope's ``id``) an
    id that is the same on every delivery: from its ``Nats-Msg-Id`` when it has one, else from its
    place in the stream. The inbox and the resumption of interrupted work rely on that id; a fresh
    random one per delivery would make a redelivered command look new."""

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        if b'"id"' not in msg.body and _is_stream_message(msg):
            msg.body = _with_stable_id(msg)
        return await call_next(msg)


def _with_stable_id(msg: StreamMessage[Any]) -> bytes:
    try:
        data = json.loads(msg.body)
    except ValueError:
        return msg.body  # not JSON: the handler's validation dead-letters it
    if not isinstance(data, dict) or "id" in data:
        return msg.body
    given = (msg.headers or {}).get("Nats-Msg-Id")
    if given:
        seed = f"msg:{given}"
    else:
        meta = msg.raw_message.metadata
        seed = f"seq:{meta.stream}:{meta.sequence.stream}"
    data["id"] = str(uuid5(BARE_MESSAGE_NAMESPACE, seed))
    return json.dumps(data).encode()


class DeadLetterMiddleware(BaseMiddleware):
    """Turns handler failures on JetStream messages into explicit acknowledgements.

    A message that cannot be parsed (or whose handler raised an :class:`AppError`, a refusal that
    retrying will not change) is dead-lettered at once. Any other failure, an
    :class:`UnavailableError` (a dependency that did not answer) included, is handed back with a
    delay from the backoff schedule, and dead-lettered when the deliveries run out. The dead letter
    carries the original body and headers plus the error, so it can be inspected and replayed.
    """

    def __init__(self, msg: Any, /, *, context: Any, policy: RetryPolicy) -> None:
        super().__init__(msg, context=context)
        self.policy = policy

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        subject = getattr(msg.raw_message, "subject", "?")
        label = subject_label(subject)
        is_stream = _is_stream_message(msg)
        started = time.perf_counter()
        try:
            result = await call_next(msg)
        except (HandlerException, asyncio.CancelledError):
            raise
        except Exception as exc:
            if not is_stream:
                BUS_HANDLED.labels(label, "failed").inc()  # a request: nothing redelivers it
                raise
            await self._on_failure(msg, subject, exc)
            raise  # unreachable: _on_failure always raises an ack/nack instruction
        finally:
            BUS_HANDLER_SECONDS.labels(label).observe(time.perf_counter() - started)
        BUS_HANDLED.labels(label, "ok").inc()
        return result

    async def _on_failure(self, msg: StreamMessage[Any], subject: str, exc: Exception) -> None:
        attempt = delivery_attempt(msg)
        label = subject_label(subject)
        # A refusal will not change on retry; a dependency that did not answer may well.
        permanent = isinstance(exc, ValidationError | AppError) and not isinstance(
            exc, UnavailableError
        )
        if not permanent and attempt < self.policy.max_deliver:
            delay = self.policy.delay(attempt)
            BUS_HANDLED.labels(label, "retried").inc()
            BUS_RETRIES.labels(label).inc()
            log.warning(
                "bus.retry",
                subject=subject,
                attempt=attempt,
                delay=delay,
                error=describe_error(exc),
            )
            raise NackMessage(delay=delay)
        try:
            await self._dead_letter(msg, subject, exc, attempt)
        except Exception as publish_error:
            log.error("bus.dead_letter_failed", subject=subject, error=str(publish_error))
            BUS_HANDLED.labels(label, "retried").inc()
            BUS_RETRIES.labels(label).inc()
            raise NackMessage(delay=self.policy.delay(attempt)) from exc
        BUS_HANDLED.labels(label, "dead_lettered").inc()
        BUS_DEAD_LETTERS.labels(label).inc()
        log.error("bus.dead_lettered", subject=subject, attempt=attempt, error=describe_error(exc))
        raise AckMessage()

    async def _dead_letter(
        self, msg: StreamMessage[Any], subject: str, exc: Exception, attempt: int
    ) -> None:
        broker: NatsBroker = self.context.get("broker")
        original = dict(msg.headers or {})
        message_id = original.pop("Nats-Msg-Id", None) or msg.message_id
        headers = {k: v for k, v in original.items() if not k.startswith("Nats-")}
        headers.update(
            {
                "Dlq-Original-Subject": subject,
                "Dlq-Error": describe_error(exc)[:2000],
                "Dlq-Deliveries": str(attempt),
            }
        )
        await publish_raw(
            broker,
            f"dlq.{subject}",
            msg.body,
            message_id=f"dlq-{message_id}",
            correlation_id=msg.correlation_id,
            extra_headers=headers,
        )


def _is_stream_message(msg: StreamMessage[Any]) -> bool:
    reply = getattr(msg.raw_message, "reply", "") or ""
    return reply.startswith("$JS.ACK.")
