"""The SQLite schema of the emulator's state and the row-to-record conversions."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from .dates import format_datetime, from_storage, now
from .models import CourseMode, CourseRun, Enrollment, TeamMember, User

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    is_staff INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    date_joined TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS course_runs (
    course_key TEXT PRIMARY KEY,
    key_lower TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    start TEXT, "end" TEXT, enrollment_start TEXT, enrollment_end TEXT,
    self_paced INTEGER NOT NULL DEFAULT 0,
    team TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL,
    overview_at TEXT,
    invite_only INTEGER NOT NULL DEFAULT 0,
    max_enrollments INTEGER
);
CREATE TABLE IF NOT EXISTS course_modes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    course_key TEXT NOT NULL,
    mode_slug TEXT NOT NULL,
    mode_display_name TEXT NOT NULL,
    min_price INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT 'usd',
    expiration_datetime TEXT,
    expiration_datetime_is_explicit INTEGER NOT NULL DEFAULT 0,
    description TEXT, sku TEXT, bulk_sku TEXT,
    suggested_prices TEXT NOT NULL DEFAULT '',
    UNIQUE (course_key, mode_slug, currency)
);
CREATE TABLE IF NOT EXISTS enrollments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    course_key TEXT NOT NULL,
    mode TEXT NOT NULL,
    is_active INTEGER NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (user_id, course_key)
);
CREATE INDEX IF NOT EXISTS enrollments_by_course ON enrollments (course_key, id);
CREATE INDEX IF NOT EXISTS enrollments_by_course_user ON enrollments (course_key, user_id);
CREATE TABLE IF NOT EXISTS grades (
    user_id INTEGER NOT NULL,
    course_key TEXT NOT NULL,
    percent REAL NOT NULL,
    passed INTEGER NOT NULL,
    letter_grade TEXT,
    modified TEXT NOT NULL,
    PRIMARY KEY (user_id, course_key)
);
CREATE TABLE IF NOT EXISTS certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    course_key TEXT NOT NULL,
    status TEXT NOT NULL,
    grade TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL,
    verify_uuid TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    UNIQUE (user_id, course_key)
);
CREATE TABLE IF NOT EXISTS completions (
    user_id INTEGER NOT NULL,
    course_key TEXT NOT NULL,
    earned REAL NOT NULL,
    possible REAL NOT NULL,
    percent REAL NOT NULL,
    modified TEXT NOT NULL,
    PRIMARY KEY (user_id, course_key)
);
CREATE TABLE IF NOT EXISTS features (name TEXT PRIMARY KEY, enabled INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    username TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""

STATE_TABLES = (
    "users",
    "course_runs",
    "course_modes",
    "enrollments",
    "grades",
    "certificates",
    "completions",
    "features",
)


def dt(value: datetime | None) -> str | None:
    return format_datetime(value)


def user_record(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        name=row["name"],
        password_hash=row["password_hash"],
        is_staff=bool(row["is_staff"]),
        is_active=bool(row["is_active"]),
        date_joined=from_storage(row["date_joined"]) or now(),
        profile=json.loads(row["profile"]),
    )


def run_record(row: sqlite3.Row) -> CourseRun:
    return CourseRun(
        key=row["course_key"],
        title=row["title"],
        start=from_storage(row["start"]),
        end=from_storage(row["end"]),
        enrollment_start=from_storage(row["enrollment_start"]),
        enrollment_end=from_storage(row["enrollment_end"]),
        self_paced=bool(row["self_paced"]),
        team=[TeamMember(m["user"], m["role"]) for m in json.loads(row["team"])],
        created=from_storage(row["created"]) or now(),
        overview_at=from_storage(row["overview_at"]),
        invite_only=bool(row["invite_only"]),
        max_enrollments=row["max_enrollments"],
    )


def mode_record(row: sqlite3.Row) -> CourseMode:
    return CourseMode(
        id=row["id"],
        course_key=row["course_key"],
        mode_slug=row["mode_slug"],
        mode_display_name=row["mode_display_name"],
        min_price=row["min_price"],
        currency=row["currency"],
        expiration_datetime=from_storage(row["expiration_datetime"]),
        expiration_datetime_is_explicit=bool(row["expiration_datetime_is_explicit"]),
        description=row["description"],
        sku=row["sku"],
        bulk_sku=row["bulk_sku"],
        suggested_prices=row["suggested_prices"],
    )


def enrollment_record(row: sqlite3.Row) -> Enrollment:
    return Enrollment(
        id=row["id"],
        user_id=row["user_id"],
        username=row["username"],
        course_key=row["course_key"],
        mode=row["mode"],
        is_active=bool(row["is_active"]),
        created=from_storage(row["created"]) or now(),
    )


ENROLLMENT_SELECT = (
    "SELECT e.*, u.username AS username FROM enrollments e JOIN users u ON u.id = e.user_id"
)
