"""Requests the framework refuses before any view runs (issue 14): a ``Host`` werkzeug cannot bind,
an oversized header. Over real HTTP, on every route: a 4xx with a small page and the security
headers, never a 500 and never a traceback."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.support.live_server import live_server

LONG_LABEL_HOST = "a" * 64 + ".example.com"  # a DNS label has at most 63 characters


@pytest.fixture
def base(app: Flask) -> Iterator[tuple[str, int]]:
    with live_server(app) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def get(
    base: tuple[str, int], path: str, headers: dict[str, str]
) -> tuple[int, str, dict[str, str]]:
    connection = http.client.HTTPConnection(*base, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace"), dict(response.headers)
    finally:
        connection.close()


def plain_get_paths(app: Flask) -> list[str]:
    paths = set()
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.arguments:
            paths.add(rule.rule)
    return sorted(paths)


def test_a_host_that_cannot_be_bound_is_a_400_on_every_route(
    app: Flask, base: tuple[str, int]
) -> None:
    paths = plain_get_paths(app)
    assert len(paths) > 20 and "/" in paths and "/staff/" in paths
    for path in [*paths, "/catalog/courses/no-such-course", "/no/such/page"]:
        status, body, headers = get(base, path, {"Host": LONG_LABEL_HOST})
        assert status == 400, (path, status)
        assert "could not be understood" in body and "Traceback" not in body, path
        assert headers.get("X-Content-Type-Options") == "nosniff", path
        assert "Content-Security-Policy" in headers, path


def test_the_same_routes_answer_normally_with_a_good_host(
    app: Flask, base: tuple[str, int]
) -> None:
    """The bad-host answer is about the Host alone: the same paths with the server's own host."""
    status, body, _ = get(base, "/", {})
    assert status == 200 and "could not be understood" not in body
    status, _, _ = get(base, "/staff/", {})
    assert status == 302  # to the sign-in page, as ever


def test_an_oversized_header_is_refused_with_a_4xx(base: tuple[str, int]) -> None:
    status, body, _ = get(base, "/", {"X-Padding": "x" * 70_000})
    assert 400 <= status < 500 and "Traceback" not in body
