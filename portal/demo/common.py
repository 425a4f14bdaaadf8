"""What every demo step shares: find-or-create by a lookup, and the count of what was created."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.extensions import db

# How many objects a seeding run created, by kind ("organizations", "courses", ...).
Created = dict[str, int]


def get_or_create(model: type[Any], lookup: dict[str, Any], **values: Any) -> tuple[Any, bool]:
    found = db.session.scalar(select(model).filter_by(**lookup))
    if found is not None:
        return found, False
    obj = model(**lookup, **values)
    db.session.add(obj)
    db.session.flush()
    return obj, True


def tally(created: Created, kind: str, was_created: bool) -> None:
    created[kind] = created.get(kind, 0) + int(was_created)
