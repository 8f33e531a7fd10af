"""The Kubernetes API's OpenAPI document as a checker: which operation a method and path are,
whether a query names only that operation's parameters, and whether a body matches a schema.

The document is the API server's own (Swagger 2.0, ``/openapi/v2``) of Kubernetes 1.36, kept
compressed beside the fakes (``kubernetes-openapi.json.gz``: ``kubernetes/swagger.json.unprocessed``
of kubernetes-client/python at the commit that generated its 36.0 client, unmodified). Bodies are
checked as the API server does with ``fieldValidation=Strict``: an unknown field is an error (the
document's schemas allow extra properties; here every object schema with properties is closed),
and ``IntOrString`` takes an integer or a string."""

from __future__ import annotations

import copy
import gzip
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

__all__ = ["DOCUMENT", "Document", "Operation", "document"]

DOCUMENT = Path(__file__).parent.parent / "kubernetes-openapi.json.gz"
_BASE = "urn:kubernetes-openapi"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


@dataclass(frozen=True)
class Operation:
    """One operation of the document: its path template, its entry, and its parameters (the
    path's and its own, references resolved)."""

    template: str
    method: str
    entry: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]

    @property
    def action(self) -> str:
        """``get``, ``list``, ``post``, ``put``, ``delete``, ... (``x-kubernetes-action``)."""
        return str(self.entry.get("x-kubernetes-action", ""))

    def body_schema(self) -> dict[str, Any] | None:
        found = [p for p in self.parameters if p.get("in") == "body"]
        return found[0]["schema"] if found else None

    def response_schema(self, status: int) -> dict[str, Any] | None:
        response = self.entry.get("responses", {}).get(str(status))
        return response.get("schema") if response else None


@cache
def document() -> Document:
    return Document(json.loads(gzip.decompress(DOCUMENT.read_bytes())))


class Document:
    """The paths and definitions, with a strict validator per schema."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        strict = _strict(raw)
        self.registry: Registry[Any] = Registry().with_resource(
            _BASE, Resource.from_contents(strict, default_specification=DRAFT4)
        )
        self.paths = [(t, _pattern(t)) for t in sorted(raw["paths"], key=len, reverse=True)]

    def operation(self, method: str, path: str) -> Operation | int:
        """The operation for ``method path``, or 404 (no such path) / 405 (no such method)."""
        for template, pattern in self.paths:
            if pattern.fullmatch(path):
                item = self.raw["paths"][template]
                entry = item.get(method.lower())
                if entry is None:
                    return 405
                shared = [self._resolve(p) for p in item.get("parameters", [])]
                own = [self._resolve(p) for p in entry.get("parameters", [])]
                return Operation(template, method.upper(), entry, (*shared, *own))
        return 404

    def query_problems(self, operation: Operation, query: dict[str, str]) -> list[str]:
        """Parameters the operation does not take, or values of the wrong type."""
        declared = {p["name"]: p for p in operation.parameters if p.get("in") == "query"}
        problems = []
        for name, value in query.items():
            parameter = declared.get(name)
            if parameter is None:
                problems.append(f"query parameter {name!r} is not one of the operation's")
            elif not _typed(parameter.get("type"), value):
                problems.append(f"query parameter {name}={value!r} is not a {parameter['type']}")
        return problems

    def validate(self, schema: dict[str, Any], value: Any) -> list[str]:
        """Why ``value`` does not match ``schema`` (empty when it does)."""
        wrapped = {"$ref": f"{_BASE}#/__schema"}
        contents = {**self._strict_contents(), "__schema": schema}
        registry = self.registry.with_resource(
            _BASE, Resource.from_contents(contents, default_specification=DRAFT4)
        )
        validator = Draft4Validator(wrapped, registry=registry)
        return [_describe(e) for e in validator.iter_errors(value)]

    def _strict_contents(self) -> dict[str, Any]:
        contents: dict[str, Any] = self.registry.contents(_BASE)
        return contents

    def _resolve(self, parameter: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in parameter:
            found: dict[str, Any] = self.raw["parameters"][parameter["$ref"].split("/")[-1]]
            return found
        return parameter


def _strict(raw: dict[str, Any]) -> dict[str, Any]:
    """The document with closed object schemas and IntOrString as the API server reads it."""
    strict = copy.deepcopy(raw)
    for name, schema in strict["definitions"].items():
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        if name == _INT_OR_STRING:
            schema.pop("type", None)
            schema["oneOf"] = [{"type": "string"}, {"type": "integer"}]
    # Inline schemas of the paths refer to "#/definitions/...": keep them in the same document.
    return strict


def _typed(kind: str | None, value: str) -> bool:
    if kind == "boolean":
        return value in ("true", "false", "1", "0")
    if kind == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    return True


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message}"
