"""Request parsing and error answers shared by the JSON API: bad input is a 4xx naming it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from routing.errors import RoutingError
from routing.ingest import BadJson, is_storable, load_json
from storage.db import RecordNotFound

log = logging.getLogger("switchboard.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(RoutingError):
    status = 400


class UnsupportedMediaType(RoutingError):
    status = 415


class Gone(RoutingError):
    status = 410


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def read_json(
    request: web.Request, fields: dict[str, type | tuple[type, ...]], required: set[str]
) -> dict[str, Any]:
    """The request's JSON object, checked for unknown, missing and mistyped fields."""
    # aiohttp reports a missing Content-Type as application/octet-stream: look at the header.
    if (
        request.headers.get("Content-Type", "").strip()
        and request.content_type != "application/json"
    ):
        raise UnsupportedMediaType("unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        body = load_json(raw) if raw.strip() else None
    except BadJson as exc:
        raise BadRequest(exc.code, exc.message) from None
    if not isinstance(body, dict):
        raise BadRequest("bad_json", "the body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest("unknown_field", f"unknown field(s): {', '.join(unknown)}")
    missing = sorted(required - set(body))
    if missing:
        raise BadRequest("missing_field", f"missing field(s): {', '.join(missing)}")
    for name, value in body.items():
        expected = fields[name]
        if not isinstance(value, expected) or (
            isinstance(value, bool) and bool not in _as_tuple(expected)
        ):
            raise BadRequest("bad_field", f"field {name} has the wrong type")
        if isinstance(value, str) and not is_storable(value):
            raise BadRequest(
                "bad_field", f"field {name} contains a NUL or an unpaired surrogate character"
            )
    return body


def _check_parameters(request: web.Request) -> None:
    """No database column takes a NUL (PostgreSQL refuses it): a path or query parameter with
    one, or with an unpaired surrogate, is refused before any handler looks it up."""
    for name, value in (*request.match_info.items(), *request.query.items()):
        if not (is_storable(name) and is_storable(value)):
            raise BadRequest(
                "bad_parameter",
                f"parameter {name!r} contains a NUL or an unpaired surrogate character",
            )


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def int_param(request: web.Request, name: str) -> int:
    value = request.match_info.get(name) or request.query.get(name, "")
    try:
        number = int(value)
    except ValueError:
        raise BadRequest("bad_id", f"{name} must be a whole number, got {value!r}") from None
    if number < 1 or number > 2**62:
        raise BadRequest("bad_id", f"{name} is out of range")
    return number


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors become JSON answers; nothing leaks a stack trace to the client."""
    try:
        if request.path.startswith("/api/"):
            _check_parameters(request)
        return await handler(request)
    except RoutingError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except RecordNotFound as exc:
        return error_response(404, f"{exc.kind}_not_found", str(exc))
    except web.HTTPRequestEntityTooLarge:
        limit = request.app._client_max_size  # aiohttp keeps the limit only here
        return error_response(
            413, "too_large", f"the request body is over the limit of {limit} bytes"
        )
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except Exception:
        log.exception("unhandled_error", extra={"fields": {"path": request.path}})
        return error_response(
            500, "internal_error", "something went wrong on our side; it was logged"
        )
