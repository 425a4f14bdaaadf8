"""One transaction per request, committed at the edge (Indico's ``RH.process``).

Services only flush. ``PortalFlask.dispatch_request`` runs the view and then ends the request's
transaction exactly once:

* a response below 400 commits everything the view did (and so hands recorded jobs to the queue);
* an exception, or a response of 400 and above (a form shown again with its errors, a refusal
  page), rolls everything back, so a refused request never leaves half a change behind.

A ``DomainError`` that leaves a view is answered the same way everywhere (``core.errors``): its
message on the error page with its status, or as JSON under ``/api/``. A view whose refusals belong
on the page the person came from says so with ``@refusals_redirect_to(endpoint)``: the message is
flashed and the browser goes back there.

Refusals that must be recorded although the change is rolled back (a code tried, an enrollment
refused) are written with ``services.audit.record_refusal``: it rolls the change back and
commits the record alone.

The command line uses ``transaction()``, the same rule for a block of code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask import Response as FlaskResponse
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from portal.core.domain_errors import DomainError, NotFound
from portal.core.errors import plain_error
from portal.extensions import db

F = TypeVar("F", bound=Callable[..., Any])
_FLASHES = "_flashes"


class PortalFlask(Flask):
    def full_dispatch_request(self) -> FlaskResponse:
        # A request refused while being bound to the URL map (werkzeug's BadHost: a Host with a
        # label over 63 characters, say) has no URL adapter: every url_for, the error page's too,
        # would fail. Answer it plainly, before any hook runs.
        if request_ctx.url_adapter is None and isinstance(request.routing_exception, HTTPException):
            return self.finalize_request(plain_error(request.routing_exception))
        return super().full_dispatch_request()

    def dispatch_request(self) -> Response:
        flashes_before = list(session.get(_FLASHES, ()))
        try:
            response = self.make_response(super().dispatch_request())
        except BaseException:
            db.session.rollback()
            raise
        if response.status_code >= 400:
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except BaseException:
            db.session.rollback()
            # The change did not happen: take back what the view said about it.
            if list(session.get(_FLASHES, ())) != flashes_before:
                session[_FLASHES] = flashes_before
            raise
        return response


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block did, or roll all of it back if it raises."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def refusals_redirect_to(
    endpoint: str, *, on_refusal: Callable[[DomainError], None] | None = None, **fixed: Any
) -> Callable[[F], F]:
    """A ``DomainError`` from the view is flashed and redirects to ``endpoint``, built from the
    view's own URL arguments that it takes (and ``fixed``). ``NotFound`` stays a 404.

    ``on_refusal`` is called with the error once the change is rolled back (to record it)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except NotFound:
                raise
            except DomainError as exc:
                db.session.rollback()
                if on_refusal is not None:
                    on_refusal(exc)
                flash(exc.message, "error")
                return redirect(refusal_target(endpoint, **fixed))

        return wrapped  # type: ignore[return-value]

    return decorate


def refusal_target(endpoint: str, **fixed: Any) -> str:
    """``url_for(endpoint)`` with the current request's URL arguments that the endpoint takes."""
    takes: set[str] = set()
    for rule in current_app.url_map.iter_rules(endpoint):
        takes |= set(rule.arguments)
    values = {k: v for k, v in (request.view_args or {}).items() if k in takes}
    return url_for(endpoint, **{**values, **fixed})
