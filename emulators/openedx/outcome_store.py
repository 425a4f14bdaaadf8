"""SQL for grades, certificates and completion (the ``Store`` keeps users, runs and enrollments)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from .paging import Cursor
from .store import Store

CHUNK = 500  # parameters per IN (...) query, well under SQLite's limit
# GeneratedCertificate.eligible_certificates excludes these statuses.
_INELIGIBLE_SQL = "('audit_passing', 'audit_notpassing')"

_GRADE_SELECT = (
    "SELECT e.id AS enrollment_id, e.mode, u.username, u.email, g.percent, g.passed, g.letter_grade"
    " FROM enrollments e JOIN users u ON u.id = e.user_id"
    " LEFT JOIN grades g ON g.user_id = e.user_id AND g.course_key = e.course_key"
)
_CERT_SELECT = (
    'SELECT c.*, u.username, r.title, r.self_paced, r."end" AS run_end FROM certificates c'
    " JOIN users u ON u.id = c.user_id LEFT JOIN course_runs r ON r.course_key = c.course_key"
)
_COMPLETION_SELECT = (
    "SELECT e.user_id, u.username, c.earned, c.possible, c.percent"
    " FROM enrollments e JOIN users u ON u.id = e.user_id"
    " LEFT JOIN completions c ON c.user_id = e.user_id AND c.course_key = e.course_key"
    " WHERE e.course_key = ? AND e.is_active = 1"
)


def _all(store: Store, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    with store.atomic() as conn:
        return list(conn.execute(sql, tuple(params)).fetchall())


def _one(store: Store, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    rows = _all(store, sql, params)
    return rows[0] if rows else None


# -- grades -----------------------------------------------------------------------------------
def grade_page(store: Store, course_key: str, cursor: Cursor, size: int) -> list[sqlite3.Row]:
    """Up to ``size + 1`` active enrollments of the course, with their grades, in cursor order."""
    sql = f"{_GRADE_SELECT} WHERE e.course_key = ? AND e.is_active = 1"
    params: list[Any] = [course_key]
    if cursor.position is not None:
        sql += " AND e.id < ?" if cursor.reverse else " AND e.id > ?"
        params.append(cursor.position)
    sql += f" ORDER BY e.id {'DESC' if cursor.reverse else 'ASC'} LIMIT ? OFFSET ?"
    params.extend([size + 1, cursor.offset])
    return _all(store, sql, params)


def user_grade(store: Store, user_id: int, course_key: str) -> sqlite3.Row | None:
    """The user's enrollment (active or not) joined with the grade, or ``None`` if not enrolled."""
    return _one(
        store, f"{_GRADE_SELECT} WHERE e.user_id = ? AND e.course_key = ?", (user_id, course_key)
    )


# -- certificates -----------------------------------------------------------------------------
def certificate(store: Store, username: str, course_key: str) -> sqlite3.Row | None:
    """The user's eligible certificate in the course."""
    return _one(
        store,
        f"{_CERT_SELECT} WHERE u.username = ? AND c.course_key = ?"
        f" AND c.status NOT IN {_INELIGIBLE_SQL}",
        (username, course_key),
    )


def user_certificates(store: Store, username: str) -> list[sqlite3.Row]:
    """The user's eligible certificates, by course id."""
    return _all(
        store,
        f"{_CERT_SELECT} WHERE u.username = ? AND c.status NOT IN {_INELIGIBLE_SQL}"
        " ORDER BY c.course_key",
        (username,),
    )


def certificate_by_uuid(store: Store, verify_uuid: str) -> sqlite3.Row | None:
    return _one(store, f"{_CERT_SELECT} WHERE c.verify_uuid = ?", (verify_uuid,))


# -- completion -------------------------------------------------------------------------------
def completion_count(store: Store, course_key: str, user_id: int | None = None) -> int:
    sql = "SELECT COUNT(*) FROM enrollments WHERE course_key = ? AND is_active = 1"
    params: list[Any] = [course_key]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    row = _one(store, sql, params)
    return 0 if row is None else int(row[0])


def completion_page(
    store: Store, course_key: str, offset: int, limit: int, user_id: int | None = None
) -> list[sqlite3.Row]:
    """Active enrollments with their completion, ordered by user (as the aggregator does)."""
    sql = _COMPLETION_SELECT
    params: list[Any] = [course_key]
    if user_id is not None:
        sql += " AND e.user_id = ?"
        params.append(user_id)
    sql += " ORDER BY e.user_id LIMIT ? OFFSET ?"
    params.extend([limit, offset])
    return _all(store, sql, params)


def completion_mean(store: Store, course_key: str, excluded: Iterable[str]) -> float:
    """Mean course completion of active learners, course team excluded (``_calculate_mean``)."""
    names = [name.lower() for name in excluded]
    rows = [
        r
        for r in _all(store, _COMPLETION_SELECT, (course_key,))
        if str(r["username"]).lower() not in names
    ]
    if not rows:
        return 0.0
    return sum(float(r["percent"] or 0.0) for r in rows) / len(rows)


# -- features ---------------------------------------------------------------------------------
def feature_enabled(store: Store, name: str, default: bool = True) -> bool:
    row = _one(store, "SELECT enabled FROM features WHERE name = ?", (name,))
    return default if row is None else bool(row["enabled"])


def set_feature(store: Store, name: str, enabled: bool) -> None:
    with store.atomic() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO features (name, enabled) VALUES (?, ?)", (name, int(enabled))
        )


# -- lookups for the controls ----------------------------------------------------------------
def users_by_name(store: Store, usernames: Iterable[str]) -> dict[str, tuple[int, str]]:
    """``{lower-case name: (id, username)}`` for the names that exist."""
    names = sorted({name.lower() for name in usernames})
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        marks = ", ".join("?" for _ in chunk)
        sql = f"SELECT id, username FROM users WHERE username IN ({marks})"  # noqa: S608
        for row in _all(store, sql, chunk):
            found[str(row["username"]).lower()] = (int(row["id"]), str(row["username"]))
    return found


def emails_taken(store: Store, emails: Iterable[str]) -> list[str]:
    taken: list[str] = []
    values = sorted({email.lower() for email in emails})
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        marks = ", ".join("?" for _ in chunk)
        sql = f"SELECT email FROM users WHERE email IN ({marks})"  # noqa: S608
        taken.extend(str(row["email"]) for row in _all(store, sql, chunk))
    return taken


def course_enrollments(store: Store, course_key: str) -> dict[int, str]:
    """``{user_id: mode}`` of every enrollment (active or not) in the course."""
    rows = _all(store, "SELECT user_id, mode FROM enrollments WHERE course_key = ?", (course_key,))
    return {int(r["user_id"]): str(r["mode"]) for r in rows}


def existing_certificates(store: Store, course_key: str) -> dict[int, tuple[str, str]]:
    """``{user_id: (verify_uuid, created)}`` of the course's certificates."""
    rows = _all(
        store,
        "SELECT user_id, verify_uuid, created FROM certificates WHERE course_key = ?",
        (course_key,),
    )
    return {int(r["user_id"]): (str(r["verify_uuid"]), str(r["created"])) for r in rows}


def stored_grades(store: Store, course_key: str) -> dict[int, float]:
    rows = _all(store, "SELECT user_id, percent FROM grades WHERE course_key = ?", (course_key,))
    return {int(r["user_id"]): float(r["percent"]) for r in rows}


# -- writes -----------------------------------------------------------------------------------
def upsert_grades(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """``(user_id, course_key, percent, passed, letter_grade, modified)`` rows."""
    with store.atomic() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO grades (user_id, course_key, percent, passed, letter_grade,"
            " modified) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def upsert_certificates(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """``(user_id, course_key, status, grade, mode, verify_uuid, created, modified)`` rows."""
    with store.atomic() as conn:
        conn.executemany(
            "INSERT INTO certificates (user_id, course_key, status, grade, mode, verify_uuid,"
            " created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id, course_key) DO UPDATE SET status = excluded.status,"
            " grade = excluded.grade, mode = excluded.mode, created = excluded.created,"
            " modified = excluded.modified",
            rows,
        )


def upsert_completions(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """``(user_id, course_key, earned, possible, percent, modified)`` rows."""
    with store.atomic() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO completions (user_id, course_key, earned, possible, percent,"
            " modified) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def add_learners(
    store: Store,
    users: list[tuple[str, str, str]],
    password_hash: str,
    course_key: str,
    mode: str,
    when: str,
) -> None:
    """Insert ``(username, email, name)`` users and enroll each one (active) in the course."""
    with store.atomic() as conn:
        conn.executemany(
            "INSERT INTO users (username, email, name, password_hash, is_staff, date_joined,"
            " profile) VALUES (?, ?, ?, ?, 0, ?, '{}')",
            [(username, email, name, password_hash, when) for username, email, name in users],
        )
        conn.executemany(
            "INSERT INTO enrollments (user_id, course_key, mode, is_active, created)"
            " SELECT id, ?, ?, 1, ? FROM users WHERE username = ?",
            [(course_key, mode, when, username) for username, _, _ in users],
        )
