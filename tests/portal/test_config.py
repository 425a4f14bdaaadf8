"""The app factory in each mode, and production refusing to start without its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal import create_app
from portal.config import (
    _ENV_NAMES,
    PRODUCTION_REQUIRED,
    ConfigError,
    load_settings,
    normalize_database_url,
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about configuration: CI's DATABASE_URL and REDIS_URL must not leak in."""
    for name in [*_ENV_NAMES.values(), "PORTAL_MODE", "PORTAL_INSTANCE_PATH"]:
        monkeypatch.delenv(name, raising=False)


PRODUCTION_ENV = {
    "SECRET_KEY": "s" * 40,
    "DATABASE_URL": "postgresql://portal@db.internal/portal",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "KEYCLOAK_SERVER_URL": "https://sso.example.org",
    "KEYCLOAK_REALM": "learners",
    "KEYCLOAK_CLIENT_ID": "portal",
    "KEYCLOAK_CLIENT_SECRET": "kc-secret",
    "OPENEDX_LMS_URL": "https://lms.example.org",
    "OPENEDX_STUDIO_URL": "https://studio.example.org",
    "OPENEDX_CLIENT_ID": "portal",
    "OPENEDX_CLIENT_SECRET": "edx-secret",
    "CYBERSOURCE_URL": "https://secureacceptance.cybersource.com/pay",
    "CYBERSOURCE_PROFILE_ID": "profile",
    "CYBERSOURCE_ACCESS_KEY": "access",
    "CYBERSOURCE_SECRET_KEY": "secret",
    "CYBERSOURCE_REST_URL": "https://api.cybersource.com",
    "CYBERSOURCE_MERCHANT_ID": "merchant",
    "CYBERSOURCE_REST_KEY_ID": "rest-key-id",
    "CYBERSOURCE_REST_SECRET_KEY": "cmVzdC1zZWNyZXQ=",
    "SMTP_HOST": "smtp.example.org",
    "MAIL_FROM": "Learning Portal <no-reply@example.org>",
}


def test_demo_is_the_default_with_sqlite_and_a_persisted_secret(tmp_path: Path) -> None:
    first = load_settings(tmp_path, environ={})
    second = load_settings(tmp_path, environ={})
    assert first.mode == "demo"
    assert first.database_url == f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert first.job_runner == "inline"
    assert len(first.secret_key) >= 40
    assert second.secret_key == first.secret_key  # survives restarts
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first.keycloak_server_url.startswith("http://127.0.0.1")
    assert first.openedx_lms_url.startswith("http://127.0.0.1")


def test_demo_app_runs_jobs_inline_and_uses_the_instance_folder(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    settings = app.config["PORTAL"]
    assert settings.mode == "demo"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["TESTING"] is False


def test_test_mode_sets_testing(tmp_path: Path) -> None:
    app = create_app({"PORTAL_MODE": "test", "INSTANCE_PATH": str(tmp_path)})
    assert app.config["TESTING"] is True
    assert app.config["PORTAL"].database_url.endswith("portal-test.sqlite")


def test_production_starts_with_every_setting(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={"PORTAL_MODE": "production", **PRODUCTION_ENV})
    assert settings.mode == "production"
    assert settings.job_runner == "rq"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert not (tmp_path / "secret_key").exists()  # never a generated key in production
    app = create_app(
        {"PORTAL_MODE": "production", "INSTANCE_PATH": str(tmp_path), **PRODUCTION_ENV}
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"


@pytest.mark.parametrize("missing", PRODUCTION_REQUIRED)
def test_production_refuses_to_start_naming_the_missing_variable(
    tmp_path: Path, missing: str
) -> None:
    env = {"PORTAL_MODE": "production", **PRODUCTION_ENV}
    del env[missing]
    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(tmp_path)} | {"PORTAL_MODE": "production"} | env)
    assert missing in str(excinfo.value)
    assert "refuses to start" in str(excinfo.value)


def test_production_refuses_inline_jobs(tmp_path: Path) -> None:
    env = {"PORTAL_MODE": "production", **PRODUCTION_ENV, "JOB_RUNNER": "inline"}
    with pytest.raises(ConfigError, match="JOB_RUNNER"):
        load_settings(tmp_path, environ=env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_MODE": "staging"}, "PORTAL_MODE must be one of"),
        ({"JOB_RUNNER": "celery"}, "JOB_RUNNER must be"),
        ({"PORTAL_MODE": "test", "JOB_RUNNER": "rq"}, "needs REDIS_URL"),
        ({"SESSION_COOKIE_SECURE": "maybe"}, "must be true or false"),
        ({"HTTP_TIMEOUT_SECONDS": "soon"}, "must be a number"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, environ=env)


def test_environment_values_are_typed(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path, environ={"SESSION_COOKIE_SECURE": "yes", "HTTP_TIMEOUT_SECONDS": "2.5"}
    )
    assert settings.session_cookie_secure is True
    assert settings.http_timeout_seconds == 2.5


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.sqlite", "sqlite:///x.sqlite"),
    ],
)
def test_database_url_normalization(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected
