"""Netbird's OpenAPI document as a checker: which operation a method and path are, and whether
a body matches an operation's request or response schema (JSON Schema 2020-12 with ``jsonschema``,
references resolved inside the document). The fake Management API (``netbird.py``) uses it."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["DOCUMENT", "OpenAPI", "spec"]

# Netbird's Management API document, kept beside the fake (a copy of the one the design ships in
# ../shared), so the suite needs nothing outside the repository.
DOCUMENT = Path(os.environ.get("NETBIRD_OPENAPI", Path(__file__).parent / "netbird-openapi.yml"))
_BASE = "urn:netbird-openapi"


@cache
def spec() -> OpenAPI:
    return OpenAPI(yaml.safe_load(DOCUMENT.read_text()))


class OpenAPI:
    """The document's paths and schemas, with a validator per referenced schema."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(_BASE, resource)
        self.paths = [(template, _pattern(template)) for template in document["paths"]]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | int:
        """The template and operation for ``method path``, or 404 / 405."""
        for template, pattern in self.paths:
            if pattern.fullmatch(path):
                found = self.document["paths"][template].get(method.lower())
                return (template, found) if found else 405
        return 404

    def validate(self, schema: dict[str, Any], value: Any) -> list[str]:
        """Why ``value`` does not match ``schema`` (empty when it does)."""
        wrapped = {"$ref": f"{_BASE}#/__schema"}
        document = {**self.document, "__schema": schema}
        registry = self.registry.with_resource(
            _BASE, Resource.from_contents(document, default_specification=DRAFT202012)
        )
        validator = Draft202012Validator(wrapped, registry=registry)
        return [_describe(e) for e in validator.iter_errors(value)]

    @staticmethod
    def request_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
        content = operation.get("requestBody", {}).get("content", {})
        media = content.get("application/json")
        return media.get("schema") if media else None

    def response_schema(self, operation: dict[str, Any], status: int) -> dict[str, Any] | None:
        response = operation.get("responses", {}).get(str(status))
        if response is None:
            return None
        if "$ref" in response:
            response = self.document["components"]["responses"][response["$ref"].split("/")[-1]]
        media = response.get("content", {}).get("application/json")
        return media.get("schema") if media else None


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


def _describe(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {error.message}"
