"""The bus documented: ``/docs/asyncapi`` (a page) and ``/docs/asyncapi.json`` (AsyncAPI 3.0).

One document for the whole bus, built in this process from the contracts' catalogue
(``claudecloud_common.contracts.catalogue``): every subject, the schema of what it carries, an
example of it, and for ``rpc.*`` the schema and an example of the answer.

Why from the contracts and not from the services' own ``/asyncapi`` documents: importing each
service to build its document would make the gateway depend on every other service's package
(and their vendor clients) — what the services never do to each other; fetching the documents
over HTTP at run time would need every worker's address, and the page would lose a service
whenever one is down or scaled to zero. Neither would be complete either: FastStream documents
what a service subscribes to, not the events it publishes through its outbox nor the answers
to its ``rpc.*`` subjects. The contracts hold all of it and every service already depends on
them; a test holds the catalogue to what the services really subscribe to. Each worker still
serves its own ``/asyncapi`` (what it receives) on its own port.

Like ``/docs``, only outside production (``GatewaySettings.docs_enabled``). The page runs no
script; its Content-Security-Policy allows its one inline stylesheet by hash and nothing else.
``python -m gateway.asyncapi`` prints the document (for a production operator, from a checkout).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request

from claudecloud_common.contracts.base import RpcReply
from claudecloud_common.contracts.catalogue import CATALOGUE, Channel

__all__ = ["asyncapi_document", "cli_line", "install_asyncapi"]

TITLE = "ClaudeCloud bus"
_KIND_TEXT = {
    "command": "Commands (JetStream stream CMD, work queue: one service does each)",
    "event": "Events (JetStream stream EVT: every interested service has its own consumer)",
    "rpc": "Requests (core NATS request-reply; the answer is {result, error})",
}


def _key(subject: str) -> str:
    return subject.replace(".", "-")


def _summary(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split())


def _reply_model(channel: Channel) -> type[BaseModel] | None:
    if channel.reply is None:
        return None
    found: type[BaseModel] = RpcReply[type(channel.reply)]  # type: ignore[misc,assignment]
    return found


def _reply_example(channel: Channel) -> dict[str, Any]:
    model = _reply_model(channel)
    assert model is not None
    answer: BaseModel = model(result=channel.reply)
    return answer.model_dump(mode="json")


def _message(
    model: type[BaseModel], schema: dict[str, Any], example: dict[str, Any], summary: str
) -> Any:
    return {
        "name": model.__name__,
        "title": model.__name__,
        "summary": summary,
        "contentType": "application/json",
        "payload": schema,
        "examples": [{"name": "example", "payload": example}],
    }


@cache
def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every subject in the catalogue."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for channel in CATALOGUE:
        models.append((type(channel.example), "validation"))
        if (reply := _reply_model(channel)) is not None:
            models.append((reply, "serialization"))
    refs, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel in CATALOGUE:
        key, model = _key(str(channel.subject)), type(channel.example)
        messages[key] = _message(
            model,
            refs[(model, "validation")],
            channel.example.model_dump(mode="json"),
            _summary(model),
        )
        channels[key] = {
            "address": str(channel.subject),
            "title": str(channel.subject),
            "description": f"{channel.kind}: {_summary(model)}".rstrip(": "),
            "messages": {model.__name__: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[key] = _operation(channel, key, model)
        if (reply := _reply_model(channel)) is not None:
            answer = f"The answer: a result ({type(channel.reply).__name__}) or an error."
            messages[f"{key}-reply"] = _message(
                reply, refs[(reply, "serialization")], _reply_example(channel), answer
            )
            channels[f"{key}-reply"] = {
                "address": None,  # the requester's inbox
                "title": f"answer to {channel.subject}",
                "messages": {"answer": {"$ref": f"#/components/messages/{key}-reply"}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": TITLE,
            "version": "0.1.0",
            "description": "Every subject of the ClaudeCloud bus, what it carries and an example."
            " Commands and events are JetStream messages (Nats-Msg-Id = the message id);"
            " requests are core NATS request-reply. Bare JSON (as `nats pub` / `nats req` send"
            " it) is accepted: id, occurred_at and correlation_id may be left out.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _with_examples(definitions, messages)},
    }


def _with_examples(definitions: dict[str, Any], messages: dict[str, Any]) -> dict[str, Any]:
    """The schemas, each message's own with its example too (JSON Schema ``examples``), for
    tools that show a schema without its message."""
    schemas: dict[str, Any] = definitions.get("$defs", {})
    for message in messages.values():
        name = message["payload"]["$ref"].rsplit("/", 1)[1]
        schemas[name].setdefault("examples", [message["examples"][0]["payload"]])
    return schemas


def _operation(channel: Channel, key: str, model: type[BaseModel]) -> dict[str, Any]:
    found: dict[str, Any] = {
        # From the platform's side: it receives commands and requests, it sends events.
        "action": "send" if channel.kind == "event" else "receive",
        "channel": {"$ref": f"#/channels/{key}"},
        "messages": [{"$ref": f"#/channels/{key}/messages/{model.__name__}"}],
    }
    if channel.reply is not None:
        found["reply"] = {
            "channel": {"$ref": f"#/channels/{key}-reply"},
            "messages": [{"$ref": f"#/channels/{key}-reply/messages/answer"}],
        }
    return found


# The page


_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #ddd;padding:.5rem;"
    "text-align:left;vertical-align:top}pre{margin:0;white-space:pre-wrap;font-size:12px}"
    "code{font-weight:600}"
)


def _style_hash() -> str:
    digest = hashlib.sha256(_STYLE.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


POLICY = (
    f"default-src 'none'; style-src {_style_hash()}; img-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def _pre(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2))}</pre>"


_ENVELOPE = frozenset({"id", "occurred_at", "correlation_id", "type"})


def cli_line(channel: Channel) -> str:
    """How to send it (or watch it) with the NATS CLI: bare JSON, the envelope left out."""
    if channel.kind == "event":
        return f"nats sub {channel.subject}"
    body = channel.example.model_dump(mode="json", exclude=set(_ENVELOPE))
    verb = "pub" if channel.kind == "command" else "req"
    return f"nats {verb} {channel.subject} '{json.dumps(body, separators=(',', ':'))}'"


def _row(channel: Channel) -> str:
    model = type(channel.example)
    reply = f"<p>Answer:</p>{_pre(_reply_example(channel))}" if channel.reply else ""
    return (
        f"<tr><td><code>{html.escape(str(channel.subject))}</code></td>"
        f"<td>{html.escape(model.__name__)}<br>{html.escape(_summary(model))}</td>"
        f"<td><pre>{html.escape(cli_line(channel))}</pre><p>Example:</p>"
        f"{_pre(channel.example.model_dump(mode='json'))}{reply}</td></tr>"
    )


@cache
def _page() -> str:
    sections = []
    for kind, heading in _KIND_TEXT.items():
        rows = "".join(_row(c) for c in CATALOGUE if c.kind == kind)
        sections.append(
            f"<h2>{html.escape(heading)}</h2><table><tr><th>Subject</th><th>Message</th>"
            f"<th>Example</th></tr>{rows}</table>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{TITLE}</title>
<meta name="referrer" content="no-referrer"><style>{_STYLE}</style></head>
<body><h1>{TITLE}</h1>
<p>Every subject, the message it carries and an example. The schemas, as AsyncAPI 3.0:
<a href="/docs/asyncapi.json">/docs/asyncapi.json</a>. How to operate the bus with the NATS CLI:
<code>docs/operator-guide.md</code> in the repository.</p>
{"".join(sections)}</body></html>"""


async def asyncapi_page(_request: Request) -> HTMLResponse:
    """Every subject of the bus with its message and an example, as a page."""
    return HTMLResponse(_page(), headers={"Content-Security-Policy": POLICY})


async def asyncapi_json(_request: Request) -> JSONResponse:
    """The AsyncAPI 3.0 document of the bus."""
    return JSONResponse(asyncapi_document())


def install_asyncapi(app: FastAPI) -> None:
    """Serve ``/docs/asyncapi`` and ``/docs/asyncapi.json`` (the caller decides where: see
    ``docs.install_docs``)."""
    app.add_route("/docs/asyncapi", asyncapi_page, include_in_schema=False)
    app.add_route("/docs/asyncapi.json", asyncapi_json, include_in_schema=False)


if __name__ == "__main__":
    print(json.dumps(asyncapi_document(), indent=2))
