"""The command line's unit of work: one transaction per command, refusals as exit status 1.

A command runs its work inside ``refusals()``: what it did is committed once at the end of the
block (``core.unit_of_work.transaction``), or all of it is rolled back. A service's refusal or a
unique constraint becomes a clear message and a non-zero exit (``click.ClickException``), never a
traceback. Output is printed after the block, so nothing claims a change that did not commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from portal.core.domain_errors import DomainError
from portal.core.unit_of_work import transaction
from portal.models import AuditEvent

DUPLICATE = "That would duplicate an existing record (a key, alias or slug already in use)."


@contextmanager
def refusals() -> Iterator[None]:
    """Commit the block, or roll all of it back; a refusal (``DomainError``, or an
    ``IntegrityError`` from a flush or the commit) becomes its message and exit code 1."""
    try:
        with transaction():
            yield
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    except IntegrityError as exc:
        raise click.ClickException(DUPLICATE) from exc


def mark_cli_events() -> Callable[[], None]:
    """Record audit events written by this command's thread as ``actor_kind="cli"`` (services
    default to "system" when there is no signed-in user). Returns the function that stops it."""
    thread = threading.get_ident()

    def before_insert(mapper: Any, connection: Any, target: AuditEvent) -> None:
        mine = threading.get_ident() == thread and target.actor_id is None
        if mine and target.actor_kind in (None, "system"):
            target.actor_kind = "cli"

    event.listen(AuditEvent, "before_insert", before_insert)
    return lambda: event.remove(AuditEvent, "before_insert", before_insert)


@contextmanager
def as_cli() -> Iterator[None]:
    """``mark_cli_events`` for the length of a block."""
    stop = mark_cli_events()
    try:
        yield
    finally:
        stop()
