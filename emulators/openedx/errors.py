"""Errors in edX's shapes, request-body parsing as Django REST Framework does it, JSON responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

log = logging.getLogger(__name__)

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
DRF_PARSERS = (JSON, FORM, MULTIPART)

NOT_FOUND = {"detail": "Not found."}
PERMISSION_DENIED = {"detail": "You do not have permission to perform this action."}
FIELD_REQUIRED = "This field is required."


class ApiError(Exception):
    """Raised anywhere in a view; rendered as ``body`` (JSON, or empty when ``None``) with ``status``."""

    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialize ``body`` as JSON in insertion order (``None`` becomes ``null``)."""
    return Response(json.dumps(body), status=status, headers=headers, mimetype=JSON)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    """A response with no body at all (edX's bare ``Response(status=...)``)."""
    return Response(b"", status=status, headers=headers, content_type=JSON)


def not_found() -> ApiError:
    """DRF's 404 body for a missing object."""
    return ApiError(404, NOT_FOUND)


def type_name(value: Any) -> str:
    """The type name DRF puts into "Expected a dictionary, but got X." messages."""
    return type(value).__name__


def read_body(media_types: Sequence[str] = DRF_PARSERS) -> Any:
    """Parse the request body like DRF's ``request.data`` with the given parsers.

    No body or no content type gives ``{}``; an unsupported content type gives 415; malformed
    JSON gives 400 ``{"detail": "JSON parse error - ..."}``.
    """
    mimetype = request.mimetype
    if not mimetype:
        return {}
    if mimetype not in media_types:
        raise ApiError(
            415, {"detail": f'Unsupported media type "{request.content_type}" in request.'}
        )
    if mimetype in (FORM, MULTIPART):
        return {key: request.form.get(key) for key in request.form}
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, {"detail": f"JSON parse error - {exc}"}) from exc


def read_object(media_types: Sequence[str] = DRF_PARSERS) -> dict[str, Any]:
    """:func:`read_body` that must yield an object, else DRF's ``non_field_errors`` 400."""
    data = read_body(media_types)
    if not isinstance(data, dict):
        raise ApiError(
            400,
            {
                "non_field_errors": [
                    f"Invalid data. Expected a dictionary, but got {type_name(data)}."
                ]
            },
        )
    return data


def _http_exception(exc: HTTPException) -> WerkzeugResponse:
    status = exc.code or 500
    if 300 <= status < 400:
        return exc.get_response()
    if status == 405:
        body: dict[str, Any] = {"detail": f'Method "{request.method}" not allowed.'}
    elif status == 404:
        body = dict(NOT_FOUND)
    else:
        body = {"detail": exc.description or exc.name}
    response = json_response(body, status)
    allow = exc.get_response().headers.get("Allow")
    if allow:
        response.headers["Allow"] = allow
    return response


def _api_error(exc: ApiError) -> Response:
    if exc.body is None:
        return empty_response(exc.status, exc.headers)
    return json_response(exc.body, exc.status, exc.headers)


def _unexpected(exc: Exception) -> Response:
    log.exception("Open edX emulator: unexpected error")
    return json_response({"detail": f"Emulator error: {type(exc).__name__}: {exc}"}, 500)


def register_error_handlers(app: Flask) -> None:
    """Render :class:`ApiError`, HTTP errors and (never expected) crashes as JSON."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(Exception, _unexpected)
