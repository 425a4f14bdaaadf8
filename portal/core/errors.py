"""Error pages (HTML, or JSON under /api/), each rolling back the request's transaction, and the one
answer to a ``DomainError`` that leaves a view."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask import Response as FlaskResponse
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from portal.core.domain_errors import DomainError
from portal.core.text import LazyText
from portal.core.text import lazy_gettext as _l
from portal.extensions import db

log = logging.getLogger(__name__)

TITLES = {
    400: _l("That request could not be understood"),
    401: _l("Please sign in"),
    403: _l("You don't have access to this page"),
    404: _l("Page not found"),
    405: _l("That action isn't allowed here"),
    413: _l("That upload is too large"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
    503: _l("A service we depend on is unavailable"),
}
DEFAULT_TITLE = _l("Error")

# What a page says when the error brings no words of its own: werkzeug's stock sentences ("The
# requested URL was not found on the server. If you entered the URL manually...") are written for
# developers, and a bare rate limit ("10 per 1 minute") says nothing about what to do.
ADVICE = {
    400: _l(
        "The portal could not read what your browser sent. Go back, check what you entered and "
        "try again."
    ),
    401: _l("Sign in to see this page; you come back here afterwards."),
    403: _l(
        "You are signed in, but your account may not open this page. If you need it, ask your "
        "organization's admin or the portal's staff for access."
    ),
    404: _l(
        "There is no page at this address. The link may be old or mistyped, or what it showed "
        "has been removed. Check the address, or carry on from one of the pages below."
    ),
    405: _l(
        "This address does not take that kind of request. Use the buttons and links on the "
        "portal's pages rather than typing the address."
    ),
    413: _l("Upload a smaller file: the form says how large it may be."),
    429: _l("You tried that too often in a short time. Wait a minute, then try again."),
    500: _l("The error was logged. Please try again in a moment."),
    503: _l(
        "A service the portal depends on did not answer. Nothing was changed; please try again "
        "in a few minutes."
    ),
}
DEFAULT_ADVICE = _l("Go back and try again, or carry on from one of the pages below.")


def _words(exc: HTTPException) -> str:
    """The error's own description, unless it is the framework's stock one (or none)."""
    description = exc.description or ""
    stock = description == getattr(type(exc), "description", None)
    if isinstance(exc, RateLimitExceeded) and not exc.limit.error_message:
        stock = True
    if stock or not description:
        return str(ADVICE.get(exc.code or 0, DEFAULT_ADVICE))
    return str(description)


def _render(
    status: int, message: str | LazyText, title: str | LazyText | None = None
) -> tuple[Response | str, int]:
    db.session.rollback()
    title = str(title or TITLES.get(status, DEFAULT_TITLE))
    message = str(message)
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return jsonify(error=title, detail=message, status=status), status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def plain_error(exc: HTTPException) -> FlaskResponse:
    """The answer to a request the framework refused before routing (a ``Host`` it cannot use, for
    one): no URL can be built for it, so no template with links; a small fixed page instead."""
    status = exc.code or 400
    title = TITLES.get(status, DEFAULT_TITLE)
    locale = get_locale()
    advice = _("Check the address you typed or followed, then try again.")
    page = (
        f"<!doctype html><html lang={locale.language if locale else 'en'}><meta charset=utf-8>"
        f"<title>{title}</title><h1>{title}</h1><p>{advice}</p>"
    )
    return FlaskResponse(page, status=status, mimetype="text/html")


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
        return _render(
            400,
            _(
                "Your form expired or was sent from another site, so nothing was changed. "
                "Go back, reload the page and try again."
            ),
            title=_("This form has expired"),
        )

    @app.errorhandler(DomainError)
    def refused(exc: DomainError) -> tuple[Response | str, int]:
        """A rule refused the request and the view left it to us: the same page everywhere."""
        title = TITLES[404] if exc.status == 404 else _l("That could not be done")
        return _render(exc.status, exc.message, title=title)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int] | HTTPException:
        if exc.code is None or exc.code < 400:
            return exc
        return _render(exc.code, _words(exc))

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> tuple[Response | str, int]:
        if _database_went_away(exc.original_exception):
            # A restart, failover or dropped connection (perhaps surfacing as a later error while
            # cleaning up): the transaction is gone, and trying again is the right advice. Other
            # database errors (constraint violations and the like) are bugs and stay 500s.
            log.warning("database unavailable on %s %s", request.method, request.path, exc_info=exc)
            return _render(
                503,
                _(
                    "Our database did not answer just now. Please try again in a moment; if you "
                    "were changing something, check whether it took effect before doing it again."
                ),
            )
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return _render(500, ADVICE[500])


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
