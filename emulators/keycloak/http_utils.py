"""Response helpers in Keycloak's shapes: its three error-body families, JSON, empty 201/204."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, NoReturn

from flask import current_app, request
from werkzeug.wrappers import Response

from .store import Store

JSON_UTF8 = "application/json;charset=UTF-8"
JSON_ERROR = "application/json"
CONSUMES_MISMATCH = "The content-type header value did not match the value in @Consumes"


class KcError(Exception):
    """Abort the request with a ready-made Keycloak-shaped response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def store() -> Store:
    emulator: Store = current_app.extensions["keycloak_emulator"]
    return emulator


def base_url() -> str:
    configured = store().config.issuer_base
    return configured or request.host_url.rstrip("/")


def issuer(realm_name: str) -> str:
    return f"{base_url()}/realms/{realm_name}"


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def json_response(data: Any, status: int = 200, *, error: bool = False) -> Response:
    response = Response(dumps(data), status=status)
    response.headers["Content-Type"] = JSON_ERROR if error else JSON_UTF8
    if not error and request.method == "GET":
        response.headers["Cache-Control"] = "no-cache"
    return response


def empty(status: int = 204, location: str | None = None) -> Response:
    response = Response(b"", status=status)
    del response.headers["Content-Type"]
    if location is not None:
        response.headers["Location"] = location
    return response


def created(location: str) -> Response:
    return empty(201, location)


def fail(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> NoReturn:
    response = json_response(body, status, error=True)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    raise KcError(response)


def fail_message(status: int, message: str) -> NoReturn:
    """``{"errorMessage": …}``: Keycloak's explicit error responses."""
    fail(status, {"errorMessage": message})


def generic_error_body(status: int) -> dict[str, str]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"error": f"HTTP {status} {phrase}"}


def fail_generic(status: int) -> NoReturn:
    """``{"error": "HTTP 404 Not Found"}``: JAX-RS exceptions."""
    fail(status, generic_error_body(status))


def fail_error(status: int, error: str, description: str | None = None) -> NoReturn:
    """``{"error": …, "error_description": …}``: OAuth-style and model exceptions."""
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    fail(status, body)


def parse_bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() == "true"


def require_json_content_type() -> None:
    content_type = request.headers.get("Content-Type")
    if content_type and request.mimetype != "application/json":
        fail(415, {"error": CONSUMES_MISMATCH})


def read_json() -> tuple[bool, Any]:
    """(body present, parsed body) for a JSON write; 415 / 400 as Keycloak answers them."""
    require_json_content_type()
    raw = request.get_data(cache=True)
    if not raw.strip():
        return False, None
    try:
        return True, json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        fail_error(400, "invalid_request", "Cannot parse the JSON")


def bad_json() -> NoReturn:
    fail_error(400, "invalid_request", "Cannot parse the JSON")


def unrecognized_field(name: str, representation: str) -> NoReturn:
    fail(
        400,
        {
            "error": f'Unrecognized field "{name}" (class org.keycloak.representations.idm.'
            f"{representation}), not marked as ignorable"
        },
    )


def check_fields(body: dict[str, Any], allowed: set[str], representation: str) -> None:
    for key in body:
        if key not in allowed:
            unrecognized_field(key, representation)


def require_form_content_type() -> None:
    if request.headers.get("Content-Type") and request.mimetype not in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        fail(415, {"error": CONSUMES_MISMATCH})


def int_param(name: str) -> int | None:
    """An integer query parameter; a non-integer value is JAX-RS's 404."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        fail_generic(404)


def paging(default_max: int) -> tuple[int, int | None]:
    """(first, max) with Keycloak's rules: negative first → 0, negative max → unbounded."""
    first = int_param("first")
    maximum = int_param("max")
    first = 0 if first is None or first < 0 else first
    if maximum is None:
        maximum = default_max
    return first, (None if maximum < 0 else maximum)


def page(items: list[Any], first: int, maximum: int | None) -> list[Any]:
    if maximum is None:
        return items[first:]
    return items[first : first + maximum]


def omit_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}
