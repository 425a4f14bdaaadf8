"""Error pages (HTML, or JSON under /api/), each rolling back the request's transaction, and the one
answer to a ``DomainError`` that leaves a view."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask import Response as FlaskResponse
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from portal.core.domain_errors import DomainError
from portal.extensions import db

log = logging.getLogger(__name__)

TITLES = {
    400: "That request could not be understood",
    401: "Please sign in",
    403: "You don't have access to this page",
    404: "Page not found",
    405: "That action isn't allowed here",
    413: "That upload is too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "A service we depend on is unavailable",
}


def _render(status: int, message: str, title: str | None = None) -> tuple[Response | str, int]:
    db.session.rollback()
    title = title or TITLES.get(status, "Error")
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify(error=title, detail=message, status=status), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def plain_error(exc: HTTPException) -> FlaskResponse:
    """The answer to a request the framework refused before routing (a ``Host`` it cannot use, for
    one): no URL can be built for it, so no template with links; a small fixed page instead."""
    status = exc.code or 400
    title = TITLES.get(status, "Error")
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>"
        f"<h1>{title}</h1><p>Check the address you typed or followed, then try again.</p>"
    )
    return FlaskResponse(page, status=status, mimetype="text/html")


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
        return _render(
            400,
            "Your form expired or was sent from another site, so nothing was changed. "
            "Go back, reload the page and try again.",
            title="This form has expired",
        )

    @app.errorhandler(DomainError)
    def refused(exc: DomainError) -> tuple[Response | str, int]:
        """A rule refused the request and the view left it to us: the same page everywhere."""
        title = TITLES[404] if exc.status == 404 else "That could not be done"
        return _render(exc.status, exc.message, title=title)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int] | HTTPException:
        if exc.code is None or exc.code < 400:
            return exc
        return _render(exc.code, exc.description or "")

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> tuple[Response | str, int]:
        if _database_went_away(exc.original_exception):
            # A restart, failover or dropped connection (perhaps surfacing as a later error while
            # cleaning up): the transaction is gone, and trying again is the right advice. Other
            # database errors (constraint violations and the like) are bugs and stay 500s.
            log.warning("database unavailable on %s %s", request.method, request.path, exc_info=exc)
            return _render(
                503,
                "Our database did not answer just now. Please try again in a moment; if you were "
                "changing something, check whether it took effect before doing it again.",
            )
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return _render(500, "The error was logged. Please try again in a moment.")


def _database_went_away(error: BaseException | None) -> bool:
    """Whether ``error``, or an error it was raised from or while handling, is the database
    failing to answer (SQLAlchemy's OperationalError or InterfaceError)."""
    seen: set[int] = set()
    waiting = [error]
    while waiting:
        current = waiting.pop()
        if current is None or id(current) in seen:
            continue
        if isinstance(current, OperationalError | InterfaceError):
            return True
        seen.add(id(current))
        waiting += [current.__cause__, current.__context__]
    return False
