"""How the staff pages show a change that a rule or the database refused.

The request's unit of work (``core.unit_of_work``) commits a response below 400 and rolls back
anything else, so a form shown again with its error (400, 409, ...) leaves nothing behind, and a
refusal answered by ``@refusals_redirect_to`` is rolled back there. What needs help is a
constraint only the database can check (a key someone took a moment ago): the change is flushed
inside the view, so the violation is answered on the page (409) instead of failing at the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import render_template
from sqlalchemy.exc import IntegrityError
from wtforms import Field

from portal.core.domain_errors import Conflict, DomainError
from portal.core.forms import PortalForm
from portal.extensions import db

T = TypeVar("T")
Rendered = tuple[str, int] | str
# What a constraint violation means, in words, and the field it goes beside (None: the form).
ConflictRule = Callable[[IntegrityError], tuple[Field | None, str]]


def page(template: str, status: int = 200, **context: Any) -> Rendered:
    body = render_template(template, **context)
    return (body, status) if status != 200 else body


def invalid_status(form: PortalForm) -> int:
    """A form shown for the first time is a 200; shown again with its errors, a 400."""
    return 400 if form.is_submitted() else 200


def add_error(form: PortalForm, field: Field | None, message: str) -> None:
    if field is None:
        form.form_errors.append(message)
    else:
        field.errors = [*field.errors, message]


@contextmanager
def conflict_as(message: str) -> Iterator[None]:
    """Flush what the block wrote; a constraint violation comes out as ``Conflict(message)`` (for
    ``@refusals_redirect_to``, which rolls back, flashes it and redirects)."""
    try:
        yield
        db.session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


@dataclass(frozen=True)
class Refused:
    """The change was refused and its reason is on the form; show the form with ``status``."""

    status: int


def attempt(
    form: PortalForm,
    work: Callable[[], T],
    *,
    field: Field | None = None,
    conflict: str | ConflictRule | None = None,
    leave: tuple[type[DomainError], ...] = (),
) -> T | Refused:
    """Run ``work`` and flush it. A refusal by a rule goes beside ``field`` (or above the form) with
    the refusal's status; a constraint violation, when ``conflict`` says what it means (a message
    beside ``field``, or a rule naming field and message), with 409. The page shown with that
    status rolls the change back. Refusals of the types in ``leave`` are raised for the caller."""
    try:
        result = work()
        db.session.flush()
    except DomainError as exc:
        if isinstance(exc, leave):
            raise
        add_error(form, field, exc.message)
        return Refused(exc.status)
    except IntegrityError as exc:
        if conflict is None:
            raise
        # The failed flush left the session unusable: end it now, so the page can be rendered.
        db.session.rollback()
        where, message = (field, conflict) if isinstance(conflict, str) else conflict(exc)
        add_error(form, where, message)
        return Refused(Conflict.status)
    return result
