"""Database snapshots: every committed row of every table, and what differs between two of them, to
show whether a request wrote anything (and what)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

Snapshot = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def snapshot(db: Any) -> Snapshot:
    """Every committed row of every table, keyed by primary key (read on a connection of its own,
    so it sees what was committed, not what the shared session holds)."""
    found: Snapshot = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            keys = [c.name for c in table.primary_key.columns]
            rows = conn.execute(select(table)).mappings().all()
            found[table.name] = {tuple(row[k] for k in keys): dict(row) for row in rows}
    return found


@dataclass(frozen=True)
class Change:
    table: str
    added: int
    removed: int
    changed: int


def changes(
    before: Snapshot,
    after: Snapshot,
    *,
    allowed_audit: Collection[str] = (),
    ignored_columns: Mapping[str, Collection[str]] | None = None,
) -> list[Change]:
    """Tables whose rows differ. New audit events whose action is in ``allowed_audit`` don't count
    (e.g. ``code.refused``: recording a refusal is the point of that refusal), nor do changes to
    ``ignored_columns`` (e.g. an API token's ``last_used_at``)."""
    ignored = ignored_columns or {}
    found = []
    for table, old in before.items():
        new = after[table]
        skip = set(ignored.get(table, ()))
        added = set(new) - set(old)
        if table == "audit_events":
            added = {k for k in added if new[k]["action"] not in allowed_audit}
        removed = set(old) - set(new)
        changed = {
            k
            for k in set(old) & set(new)
            if {c: v for c, v in old[k].items() if c not in skip}
            != {c: v for c, v in new[k].items() if c not in skip}
        }
        if added or removed or changed:
            found.append(Change(table, len(added), len(removed), len(changed)))
    return found


def new_audit_actions(before: Snapshot, after: Snapshot) -> list[str]:
    old = before["audit_events"]
    return [row["action"] for key, row in sorted(after["audit_events"].items()) if key not in old]


__all__ = ["Change", "Snapshot", "changes", "new_audit_actions", "snapshot"]
