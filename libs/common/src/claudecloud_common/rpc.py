"""Queries over the bus: core NATS request-reply on ``rpc.*``, typed end to end.

A query (:class:`~claudecloud_common.contracts.base.Query`) names its subject and the type of its
answer. The owner answers with :func:`rpc_subscriber` and :func:`rpc_reply`; a caller asks with
:func:`request` and gets that answer, or an exception: :class:`RemoteError` for a refusal (the
owner's error, status and detail), :class:`~claudecloud_common.errors.UnavailableError` when
nobody answers in time, :class:`UnexpectedReply` for an answer outside the contract.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from faststream.exceptions import IncorrectState
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from pydantic import BaseModel, ValidationError

from .bus import HandlerDecorator
from .contracts.base import ErrorBody, Query, RpcReply
from .errors import AppError, UnavailableError
from .logging import describe_error, get_logger
from .settings import ServiceSettings
from .telemetry import trace_headers

__all__ = [
    "NobodyAnswers",
    "RemoteError",
    "UnexpectedReply",
    "request",
    "request_on",
    "rpc_reply",
    "rpc_subscriber",
]

log = get_logger(__name__)


def rpc_subscriber(
    broker: NatsBroker, query: type[Query[Any]], *, settings: ServiceSettings
) -> HandlerDecorator:
    """The responder to ``query`` on its subject; replicas share requests through a queue group."""
    subscriber = broker.subscriber(
        str(query.subject), queue=settings.service_name, max_workers=settings.bus_max_workers
    )
    return cast("HandlerDecorator", subscriber)


R = TypeVar("R", bound=BaseModel)

_JSON = {"content-type": "application/json"}


async def request(broker: NatsBroker, query: Query[R], *, timeout: float) -> R:
    """Ask the service that answers ``query`` (on its subject) and return its answer.

    Raises :class:`RemoteError` when it refused (the matching error, status and detail),
    :class:`UnavailableError` when nobody answers within ``timeout`` (:class:`NobodyAnswers`
    when nobody listens at all), and :class:`UnexpectedReply` for an answer outside the contract.
    """
    try:
        client = broker.connection
    except IncorrectState as exc:
        raise _unanswered(query) from exc
    return await request_on(client, query, timeout=timeout)


async def request_on(client: NatsClient, query: Query[R], *, timeout: float) -> R:
    """:func:`request` on a bare NATS client (the operator's command has no broker)."""
    # Straight on the NATS client: a query is on the hot path of every read, and FastStream's
    # publish machinery around a plain request-reply costs more than the request itself.
    try:
        reply = await client.request(
            str(query.subject),
            query.model_dump_json().encode(),
            timeout=timeout,
            headers={**_JSON, **trace_headers()},
        )
    except NoRespondersError as exc:
        raise NobodyAnswers(f"{_owner(query)} service does not answer; try again shortly") from exc
    except (NatsError, TimeoutError, OSError, IncorrectState) as exc:
        raise _unanswered(query) from exc
    return _answer(query, reply.data)


def _answer(query: Query[R], data: bytes) -> R:
    try:
        parsed = RpcReply[query.reply].model_validate_json(data)  # type: ignore[name-defined]
    except ValidationError as exc:
        raise UnexpectedReply(
            f"the answer to {query.subject} is not a {query.reply.__name__}"
        ) from exc
    if parsed.error is not None:
        raise RemoteError(parsed.error)
    if parsed.result is None:
        raise UnexpectedReply(f"the answer to {query.subject} carries neither result nor error")
    return cast("R", parsed.result)


def _unanswered(query: Query[Any]) -> UnavailableError:
    return UnavailableError(f"{_owner(query)} service did not answer in time")


def _owner(query: Query[Any]) -> str:
    """Who answers ``query``, for a person: ``rpc.billing.status`` → ``billing``."""
    return query.subject.split(".")[1]


class NobodyAnswers(UnavailableError):
    """No service listens on the query's subject (not running, or not deployed here)."""

    @property
    def error(self) -> str:
        # To a caller it is one more way of not answering: the same name in every error body.
        return UnavailableError.__name__


class UnexpectedReply(RuntimeError):
    """An answer that is not what the query's contract says (a bug on one side, not a refusal)."""


class RemoteError(AppError):
    """An error another service answered with; keeps its name, detail and status code."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.detail, **body.extra)
        self.body = body
        self.status_code = body.status_code  # type: ignore[misc]

    @property
    def error(self) -> str:
        return self.body.error


def rpc_reply(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an rpc handler so any AppError it raises travels back as an error reply, and any other
    failure (its database down, say) as an immediate 503: the caller answers its own caller at
    once instead of waiting out its timeout. What failed is logged here, never sent."""

    async def wrapper(*args: Any, **kwargs: Any) -> bytes:
        try:
            value = await handler(*args, **kwargs)
        except AppError as exc:
            failure: AppError = exc
        except Exception as exc:
            log.error("rpc.failed", handler=handler.__name__, error=describe_error(exc))
            failure = UnavailableError("the service could not answer right now; try again shortly")
        else:
            return RpcReply[Any](result=value).model_dump_json().encode()
        body = ErrorBody(
            error=failure.error,
            detail=failure.detail,
            status_code=failure.status_code,
            extra={k: str(v) for k, v in failure.extra.items()},
        )
        return RpcReply[Any](error=body).model_dump_json().encode()

    functools.update_wrapper(wrapper, handler)
    # FastStream validates the handler's return against its annotation: ours is the reply bytes.
    wrapper.__signature__ = inspect.signature(handler).replace(  # type: ignore[attr-defined]
        return_annotation=bytes
    )
    wrapper.__annotations__ = {**handler.__annotations__, "return": bytes}
    return wrapper
