"""`upgrade head` yields exactly the models' schema, on SQLite and on the PostgreSQL under test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from portal import create_app
from portal.config import normalize_database_url
from portal.extensions import db
from portal.models import Base
from tests.conftest import DATABASE_URL, ROOT, USES_POSTGRES

MIGRATIONS = str(ROOT / "migrations")
BACKENDS = ["sqlite", *(["postgresql"] if USES_POSTGRES else [])]


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database of each backend available to this run."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    name = f"portal_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalize_database_url(DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = normalize_database_url(DATABASE_URL).rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _app(url: str, tmp_path: Path) -> Any:
    return create_app(
        {
            "PORTAL_MODE": "test",
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": url,
            "SECRET_KEY": "x",
            "JOB_RUNNER": "inline",
        }
    )


def test_upgrade_head_matches_the_models(empty_database: str, tmp_path: Path) -> None:
    app = _app(empty_database, tmp_path)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(conn).get_table_names())
        db.engine.dispose()
    assert diff == [], f"migrations and models differ: {diff}"
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_to_base_and_back(empty_database: str, tmp_path: Path) -> None:
    app = _app(empty_database, tmp_path)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        downgrade(directory=MIGRATIONS, revision="base")
        with db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as conn:
            assert "audit_events" in inspect(conn).get_table_names()
        db.engine.dispose()
