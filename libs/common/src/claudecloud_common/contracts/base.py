"""What every message on the bus carries."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Command", "ErrorBody", "Event", "Message", "Query", "RpcReply", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """Base of every bus message.

    ``id`` is unique per message and doubles as the ``Nats-Msg-Id`` (JetStream de-duplication) and
    the inbox key (exactly-once effects). ``correlation_id`` ties together everything one user
    action caused. Each concrete message adds a ``type`` literal and names its ``subject`` (a
    member of its domain's subject enum), so no caller ever builds or looks up a subject.
    """

    subject: ClassVar[StrEnum]

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None


class Command(Message):
    """Asks the owning service to do something; work-queue delivery, one consumer group."""


class Event(Message):
    """States that something happened; every interested service has its own durable consumer."""


class ErrorBody(BaseModel):
    """An error travelling back over request-reply, mapped to HTTP by the caller."""

    model_config = ConfigDict(frozen=True)

    error: str
    detail: str
    status_code: int
    extra: dict[str, str] = Field(default_factory=dict)


T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)


class Query(BaseModel, Generic[R]):
    """A question for the service that owns the answer, over request-reply (``rpc.*``).

    Each concrete query names its ``subject`` and is declared as ``Query[Answer]``: the answer's
    type becomes :attr:`reply`, so ``request(broker, query)`` knows where to ask and what comes
    back, and no caller pairs a subject with a type by hand.
    """

    subject: ClassVar[StrEnum]
    reply: ClassVar[type[BaseModel]]
    """The model of the answer (``R``), taken from ``Query[R]`` when the class is declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        generic = cls.__pydantic_generic_metadata__
        if generic["origin"] is not None and generic["args"]:  # Query[Answer]; subclasses inherit
            cls.reply = generic["args"][0]


class RpcReply(BaseModel, Generic[T]):
    """The answer to an ``rpc.*`` request: a result or an error, never both."""

    result: T | None = None
    error: ErrorBody | None = None
