"""How every error becomes an HTTP answer (one place), and the error bodies the OpenAPI
document declares for each route."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, create_model
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from claudecloud_common.errors import AppError, PayloadTooLargeError, UnavailableError
from claudecloud_common.logging import get_logger

from .middleware import security_headers

log = get_logger(__name__)


class ErrorBody(BaseModel):
    """Every error answer: ``error`` names the kind (stable, for programs to branch on) and
    ``detail`` says what happened (for people). Some kinds add fields of their own."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str


class ValidationErrorBody(ErrorBody):
    """The request did not match the declared parameters or body (422 only for this)."""

    error: Literal["ValidationError"]
    errors: list[dict[str, Any]]


class InternalErrorBody(ErrorBody):
    """Something failed that should not have; it is logged with the request's correlation id."""

    error: Literal["InternalError"]


class HeadersTooLargeBody(ErrorBody):
    """The request line and headers are longer than ``MAX_HEADER_BYTES`` allows.

    The server answers it before the request reaches a route, so any route may."""

    error: Literal["RequestHeaderFieldsTooLarge"]


class PayloadTooLarge(PayloadTooLargeError):
    """The request body is larger than ``MAX_BODY_BYTES`` (answered by :class:`BodySizeLimit`)."""


_MODELS: dict[type[AppError], type[ErrorBody]] = {}


def error_model(kind: type[AppError]) -> type[ErrorBody]:
    """The body of one kind of error, as the OpenAPI document shows it (named after it)."""
    if kind not in _MODELS:
        name: Any = Literal[kind.__name__]  # a one-value Literal built at run time
        _MODELS[kind] = create_model(
            kind.__name__,
            __base__=ErrorBody,
            __doc__=kind.__doc__ or f"{kind.__name__} ({kind.status_code})",
            error=(name, ...),
            **dict(getattr(kind, "body_fields", {})),
        )
    return _MODELS[kind]


def error_responses(
    *kinds: type[AppError], validated: bool = True
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status it can answer with and the bodies it may carry.

    An unexpected failure (500), a dependency that did not answer in time (503) and a request
    head too long (431) are declared on every route, payload validation (422) on every route
    that takes parameters or a body (``validated``).
    """
    by_status: defaultdict[int, list[type[BaseModel]]] = defaultdict(list)
    every: tuple[type[AppError], ...] = (*kinds, UnavailableError)
    for kind in every:
        model = error_model(kind)
        if model not in by_status[kind.status_code]:
            by_status[kind.status_code].append(model)
    if validated:
        by_status[422].append(ValidationErrorBody)
    by_status[431].append(HeadersTooLargeBody)
    by_status[500].append(InternalErrorBody)
    return {
        status: {
            "model": models[0] if len(models) == 1 else Union[tuple(models)],  # noqa: UP007
            "description": _describe_models(models),
        }
        for status, models in sorted(by_status.items())
    }


def _describe_models(models: list[type[BaseModel]]) -> str:
    return "; ".join(f"{m.__name__}: {_first_line(m.__doc__)}" for m in models)


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


_HTTP_NAMES = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


def _describe_validation(errors: list[Any]) -> str:
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            parts.append("request body is not valid JSON")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


RETRY_AFTER_SECONDS = 5
"""What a 503 tells the client to wait before trying again (``Retry-After``)."""
DATABASE_UNAVAILABLE = "the database did not answer in time; try again shortly"


def _is_outage(exc: Exception) -> bool:
    """The database (or the way to it) failed, not the statement: a timeout, a refused or
    broken connection (SQLSTATE class 08), a server shutting down (57P)."""
    if isinstance(exc, DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return (
            exc.connection_invalidated
            or isinstance(exc, OperationalError | InterfaceError)
            or state.startswith(("08", "57P"))
        )
    return isinstance(exc, SQLAlchemyTimeoutError | TimeoutError | ConnectionError)


def _errors_are_json(document: dict[str, Any]) -> dict[str, Any]:
    """Error bodies are JSON on every route; FastAPI files a route's declared error models
    under the route's own media type (``text/html`` for a page), so move them back."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if not str(status).startswith(("4", "5")) or "application/json" in content:
                    continue
                for media_type, body in list(content.items()):
                    schema = body.get("schema", {})
                    if "$ref" in schema or "anyOf" in schema:  # an error model, not a page
                        content["application/json"] = content.pop(media_type)
    return document


def install_error_handlers(app: FastAPI, *, https: bool) -> None:
    """Map every error to ``{"error": ..., "detail": ...}`` with its status code, and declare
    those bodies as JSON in the OpenAPI document (``https``: the site is served over TLS)."""
    document = app.openapi
    app.openapi = lambda: app.openapi_schema or _errors_are_json(document())  # type: ignore[method-assign]

    @app.exception_handler(AppError)
    async def app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = dict(getattr(exc, "headers", {}))
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.status_code == 503:
            headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    @app.exception_handler(TimeoutError)
    @app.exception_handler(ConnectionError)
    async def outage(request: Request, exc: Exception) -> JSONResponse:
        # The database did not answer in time, or its connection broke (the pool is renewed:
        # the next request gets a fresh one). Anything else from the driver is a bug: 500.
        if not _is_outage(exc):
            return await unexpected(request, exc)
        log.warning("http.database_unavailable", path=request.url.path, error=type(exc).__name__)
        return await app_error(request, UnavailableError(DATABASE_UNAVAILABLE))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        body = {
            "error": "ValidationError",
            "detail": _describe_validation(errors),
            "errors": errors,
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, not a form)
            unreadable = {"loc": ("body",), "msg": "cannot be read", "type": "body_unreadable"}
            detail = "request body cannot be read (not UTF-8 text, or not the declared type)"
            body = {"error": "ValidationError", "detail": detail, "errors": [unreadable]}
            return JSONResponse(body, status_code=422)
        name = _HTTP_NAMES.get(exc.status_code, "HTTPError")
        return JSONResponse(
            {"error": name, "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this one outside every middleware, so it sets the headers itself.
        log.exception("http.unhandled_error", path=request.url.path)
        return JSONResponse(
            {"error": "InternalError", "detail": "internal error"},
            status_code=500,
            headers=security_headers(https=https),
        )
