"""Thread-safe SQLite state: one connection (a file, or in memory) behind a re-entrant lock."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from .dates import from_storage, now
from .models import CourseMode, CourseRun, Enrollment, User
from .schema import (
    ENROLLMENT_SELECT,
    SCHEMA,
    STATE_TABLES,
    dt,
    enrollment_record,
    mode_record,
    run_record,
    user_record,
)


class Store:
    """All reads and writes; every method runs under the lock, :meth:`atomic` groups several."""

    def __init__(self, path: str = "") -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None
        )
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.executescript(SCHEMA)  # executescript manages its own transaction

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock; the outermost call wraps everything in one transaction."""
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._conn.execute("COMMIT")

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.atomic() as conn:
            return list(conn.execute(sql, params).fetchall())

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self.atomic() as conn:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

    def _run_sql(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self.atomic() as conn:
            cursor = conn.execute(sql, params)
            return int(cursor.lastrowid or 0)

    # -- meta and reset -------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self._run_sql("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def clear_state(self) -> None:
        """Delete users, runs, modes and enrollments (tokens and the signing key survive)."""
        with self.atomic() as conn:
            for table in STATE_TABLES:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def counts(self) -> dict[str, int]:
        with self.atomic() as conn:
            return {
                table: int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
                for table in (*STATE_TABLES, "tokens")
            }

    # -- users ----------------------------------------------------------------------------------
    def get_user(self, username: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE username = ?", (username,))
        return None if row is None else user_record(row)

    def get_user_by_email(self, email: str) -> User | None:
        row = self._one("SELECT * FROM users WHERE email = ?", (email,))
        return None if row is None else user_record(row)

    def list_users(self) -> list[User]:
        return [user_record(r) for r in self._all("SELECT * FROM users ORDER BY id")]

    def create_user(
        self,
        username: str,
        email: str,
        name: str = "",
        password_hash: str = "",
        is_staff: bool = False,
        profile: dict[str, Any] | None = None,
    ) -> User:
        user_id = self._run_sql(
            "INSERT INTO users (username, email, name, password_hash, is_staff, date_joined, profile)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                username,
                email,
                name,
                password_hash,
                int(is_staff),
                dt(now()),
                json.dumps(profile or {}),
            ),
        )
        row = self._one("SELECT * FROM users WHERE id = ?", (user_id,))
        assert row is not None
        return user_record(row)

    def save_user(self, user: User) -> None:
        self._run_sql(
            "UPDATE users SET email = ?, name = ?, password_hash = ?, is_staff = ?, is_active = ?,"
            " profile = ? WHERE id = ?",
            (
                user.email,
                user.name,
                user.password_hash,
                int(user.is_staff),
                int(user.is_active),
                json.dumps(user.profile),
                user.id,
            ),
        )

    # -- course runs ----------------------------------------------------------------------------
    def get_run(self, key: str) -> CourseRun | None:
        row = self._one("SELECT * FROM course_runs WHERE course_key = ?", (key,))
        return None if row is None else run_record(row)

    def run_exists_ignoring_case(self, key: str) -> bool:
        return (
            self._one("SELECT 1 FROM course_runs WHERE key_lower = ?", (key.lower(),)) is not None
        )

    def list_runs(self) -> list[CourseRun]:
        return [run_record(r) for r in self._all("SELECT * FROM course_runs ORDER BY course_key")]

    def save_run(self, run: CourseRun) -> None:
        """Insert or replace the run."""
        self._run_sql(
            'INSERT OR REPLACE INTO course_runs (course_key, key_lower, title, start, "end",'
            " enrollment_start, enrollment_end, self_paced, team, created, overview_at, invite_only,"
            " max_enrollments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.key,
                run.key.lower(),
                run.title,
                dt(run.start),
                dt(run.end),
                dt(run.enrollment_start),
                dt(run.enrollment_end),
                int(run.self_paced),
                json.dumps([m.as_dict() for m in run.team]),
                dt(run.created),
                dt(run.overview_at),
                int(run.invite_only),
                run.max_enrollments,
            ),
        )

    # -- course modes ---------------------------------------------------------------------------
    def list_modes(self, course_key: str) -> list[CourseMode]:
        rows = self._all(
            "SELECT * FROM course_modes WHERE course_key = ? ORDER BY id", (course_key,)
        )
        return [mode_record(r) for r in rows]

    def get_mode(self, course_key: str, slug: str) -> CourseMode | None:
        row = self._one(
            "SELECT * FROM course_modes WHERE course_key = ? AND mode_slug = ? ORDER BY id",
            (course_key, slug),
        )
        return None if row is None else mode_record(row)

    def mode_exists(self, course_key: str, slug: str, currency: str) -> bool:
        row = self._one(
            "SELECT 1 FROM course_modes WHERE course_key = ? AND mode_slug = ? AND currency = ?",
            (course_key, slug, currency),
        )
        return row is not None

    def save_mode(self, mode: CourseMode) -> CourseMode:
        """Insert (``id == 0``) or update a mode; returns it with its id."""
        values = (
            mode.course_key,
            mode.mode_slug,
            mode.mode_display_name,
            mode.min_price,
            mode.currency,
            dt(mode.expiration_datetime),
            int(mode.expiration_datetime_is_explicit),
            mode.description,
            mode.sku,
            mode.bulk_sku,
            mode.suggested_prices,
        )
        with self.atomic():
            if mode.id:
                self._run_sql(
                    "UPDATE course_modes SET course_key = ?, mode_slug = ?, mode_display_name = ?,"
                    " min_price = ?, currency = ?, expiration_datetime = ?,"
                    " expiration_datetime_is_explicit = ?, description = ?, sku = ?, bulk_sku = ?,"
                    " suggested_prices = ? WHERE id = ?",
                    (*values, mode.id),
                )
                return mode
            mode.id = self._run_sql(
                "INSERT INTO course_modes (course_key, mode_slug, mode_display_name, min_price,"
                " currency, expiration_datetime, expiration_datetime_is_explicit, description, sku,"
                " bulk_sku, suggested_prices) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return mode

    def delete_mode(self, mode_id: int) -> None:
        self._run_sql("DELETE FROM course_modes WHERE id = ?", (mode_id,))

    # -- enrollments ----------------------------------------------------------------------------
    def get_enrollment(self, user_id: int, course_key: str) -> Enrollment | None:
        row = self._one(
            f"{ENROLLMENT_SELECT} WHERE e.user_id = ? AND e.course_key = ?", (user_id, course_key)
        )
        return None if row is None else enrollment_record(row)

    def save_enrollment(
        self, user: User, course_key: str, mode: str, is_active: bool
    ) -> Enrollment:
        """Create or update the user's enrollment in the course (``created`` is kept)."""
        with self.atomic():
            existing = self.get_enrollment(user.id, course_key)
            if existing is None:
                self._run_sql(
                    "INSERT INTO enrollments (user_id, course_key, mode, is_active, created)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (user.id, course_key, mode, int(is_active), dt(now())),
                )
            else:
                self._run_sql(
                    "UPDATE enrollments SET mode = ?, is_active = ? WHERE id = ?",
                    (mode, int(is_active), existing.id),
                )
            saved = self.get_enrollment(user.id, course_key)
            assert saved is not None
            return saved

    def user_enrollments(self, username: str, active_only: bool = True) -> list[Enrollment]:
        sql = f"{ENROLLMENT_SELECT} WHERE u.username = ?"
        if active_only:
            sql += " AND e.is_active = 1"
        return [enrollment_record(r) for r in self._all(sql + " ORDER BY e.id", (username,))]

    def count_active_enrollments(self, course_key: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM enrollments WHERE course_key = ? AND is_active = 1",
            (course_key,),
        )
        return 0 if row is None else int(row["n"])

    def page_enrollments(
        self,
        course_key: str | None,
        usernames: list[str] | None,
        *,
        limit: int,
        after_id: int | None = None,
        before_id: int | None = None,
    ) -> list[Enrollment]:
        """Enrollments (active or not) in id order, filtered, after or before a position.

        With ``before_id`` the *last* ``limit`` rows before it are returned (still in id order).
        """
        sql = f"{ENROLLMENT_SELECT} WHERE 1 = 1"
        params: list[Any] = []
        if after_id is not None:
            sql += " AND e.id > ?"
            params.append(after_id)
        if before_id is not None:
            sql += " AND e.id < ?"
            params.append(before_id)
        if course_key is not None:
            sql += " AND e.course_key = ?"
            params.append(course_key)
        if usernames is not None:
            sql += f" AND u.username IN ({', '.join('?' for _ in usernames)})"
            params.extend(usernames)
        sql += f" ORDER BY e.id {'DESC' if before_id is not None else 'ASC'} LIMIT ?"
        params.append(limit)
        rows = [enrollment_record(r) for r in self._all(sql, tuple(params))]
        return list(reversed(rows)) if before_id is not None else rows

    # -- tokens ---------------------------------------------------------------------------------
    def save_token(
        self, token: str, kind: str, username: str, client_id: str, scope: str, expires: datetime
    ) -> None:
        self._run_sql(
            "INSERT INTO tokens (token, kind, username, client_id, scope, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (token, kind, username, client_id, scope, dt(expires)),
        )

    def get_token(self, token: str, kind: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM tokens WHERE token = ? AND kind = ?", (token, kind))
        if row is None:
            return None
        data = dict(row)
        data["expires_at"] = from_storage(row["expires_at"])
        return data

    def delete_token(self, token: str) -> None:
        self._run_sql("DELETE FROM tokens WHERE token = ?", (token,))
