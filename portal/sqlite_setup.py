"""SQLite (demo mode and local tests) held closer to PostgreSQL's guarantees.

* Foreign keys are enforced (SQLite's default is off).
* With ``immediate`` (demo mode), every transaction takes the write lock at BEGIN, so two concurrent
  read-then-write requests queue on the busy timeout instead of one failing with "database is
  locked". Tests keep the driver's default, because their long-lived sessions would hold that lock.
PostgreSQL needs none of this: its row locks (SELECT ... FOR UPDATE) serialize what must be.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def configure(engine: Engine, *, immediate: bool) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        if immediate:
            dbapi_connection.isolation_level = None  # BEGIN is emitted below, not by the driver
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    if immediate:

        @event.listens_for(engine, "begin")
        def on_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
