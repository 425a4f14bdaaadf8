"""Finding the row a test is about."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from portal.extensions import db

Row = TypeVar("Row")


def one(model: type[Row], **values: Any) -> Row:
    """The row of ``model`` with these column values (``one(User, email=...)``); the test fails
    if there is none."""
    found = db.session.scalar(select(model).filter_by(**values))
    assert found is not None, f"no {model.__name__} with {values}"
    return found


__all__ = ["one"]
