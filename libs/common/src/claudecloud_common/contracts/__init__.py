"""Every message that crosses the bus. One module per domain; subjects are enum members."""

from .base import Command, ErrorBody, Event, Message, Query, RpcReply

__all__ = ["Command", "ErrorBody", "Event", "Message", "Query", "RpcReply"]
