"""The organization API's answers: its JSON error body, and a page of a listing with its links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import current_app, jsonify, request
from werkzeug.wrappers import Response

REALM = "portal organization api"


def api_error(status: int, error: str, detail: str, **headers: str) -> Response:
    """``{"error", "detail", "status"}``, the body of every refusal of this API."""
    response = jsonify(error=error, detail=detail, status=status)
    response.status_code = status
    response.headers.update(headers)
    return response


def unauthorized(detail: str) -> Response:
    return api_error(
        401,
        "Invalid API token",
        detail,
        **{"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )


def _page_url(page: int) -> str:
    """An absolute link to another page of this listing, keeping every other query parameter;
    built on PUBLIC_BASE_URL, never on the Host header a client sends."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    base = current_app.config["PORTAL"].public_base_url.rstrip("/") + request.path
    return f"{base}?{urlencode([*pairs, ('page', str(page))])}"


def paginated(total: int, page: int, page_size: int, results: list[dict[str, Any]]) -> Response:
    return jsonify(
        count=total,
        page=page,
        page_size=page_size,
        next=_page_url(page + 1) if page * page_size < total else None,
        previous=_page_url(page - 1) if page > 1 else None,
        results=results,
    )
