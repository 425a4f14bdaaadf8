"""One typed configuration object, read from the environment and checked at start-up.

Three modes (``PORTAL_MODE``):

* ``demo`` (the default when nothing is set): a SQLite file and a generated secret key persisted in the
  instance folder, jobs run in-process right after commit, Keycloak and Open edX emulators on loopback.
* ``test``: like demo but isolated; the test suite passes its own overrides.
* ``production``: refuses to start unless every secret and real service URL is given.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

MODES = ("demo", "test", "production")

# Settings production refuses to start without: no silent fallback to a demo default.
PRODUCTION_REQUIRED = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "KEYCLOAK_SERVER_URL",
    "KEYCLOAK_REALM",
    "KEYCLOAK_CLIENT_ID",
    "KEYCLOAK_CLIENT_SECRET",
    "OPENEDX_LMS_URL",
    "OPENEDX_STUDIO_URL",
    "OPENEDX_CLIENT_ID",
    "OPENEDX_CLIENT_SECRET",
    "CYBERSOURCE_URL",
    "CYBERSOURCE_PROFILE_ID",
    "CYBERSOURCE_ACCESS_KEY",
    "CYBERSOURCE_SECRET_KEY",
)


class ConfigError(RuntimeError):
    """Raised when the environment cannot make a working portal; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    mode: str = "demo"
    secret_key: str = ""
    database_url: str = ""
    redis_url: str = ""
    # "rq": hand jobs to Redis after commit; "inline": run them in-process right after commit.
    job_runner: str = "inline"
    job_queue: str = "portal"
    # Extra modules whose job handlers the app registers (comma-separated import paths).
    job_modules: str = ""
    job_backoff_base_seconds: float = 2.0
    # A running job whose worker has been silent this long is taken to be dead and retried.
    job_stale_after_seconds: float = 900.0
    # A queued job Redis has held this long without running is taken to be lost and re-sent.
    job_lost_after_seconds: float = 600.0
    public_base_url: str = "http://127.0.0.1:5000"
    keycloak_server_url: str = "http://127.0.0.1:8180"
    keycloak_realm: str = "b2b-demo"
    keycloak_client_id: str = "b2b-portal"
    keycloak_client_secret: str = "demo-portal-secret"  # noqa: S105 - the emulator's documented demo secret
    keycloak_staff_role: str = "portal-staff"
    keycloak_org_scope: str = "organization:*"
    openedx_lms_url: str = "http://127.0.0.1:8190"
    openedx_studio_url: str = "http://127.0.0.1:8190"
    openedx_client_id: str = "b2b-portal"
    openedx_client_secret: str = "demo-edx-secret"  # noqa: S105 - the emulator's documented demo secret
    # CyberSource Secure Acceptance hosted checkout (the payment emulator in demo mode).
    cybersource_url: str = "http://127.0.0.1:8195/pay"
    cybersource_profile_id: str = "demo-profile"
    cybersource_access_key: str = "demo-access-key"
    cybersource_secret_key: str = "demo-cybersource-secret"  # noqa: S105 - the emulator's demo secret
    # Flask-Limiter storage: "memory://" in demo, REDIS_URL in production when unset.
    ratelimit_storage_url: str = ""
    redeem_rate_limit: str = "10 per minute;50 per hour"
    http_timeout_seconds: float = 10.0
    session_cookie_secure: bool = False
    log_level: str = "INFO"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def uses_redis(self) -> bool:
        return self.job_runner == "rq"


_ENV_NAMES = {f.name: f.name.upper() for f in fields(Settings) if f.name not in {"mode", "extra"}}


def _coerce(name: str, raw: str) -> Any:
    kind = Settings.__dataclass_fields__[name].type
    if kind == "bool":
        value = raw.strip().lower()
        if value not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
            raise ConfigError(f"{name.upper()} must be true or false, not {raw!r}")
        return value in {"1", "true", "yes", "on"}
    if kind == "float":
        try:
            return float(raw)
        except ValueError as exc:
            raise ConfigError(f"{name.upper()} must be a number, not {raw!r}") from exc
    return raw


def _instance_secret(instance_path: Path) -> str:
    """Demo mode's secret key: generated once, kept in the instance folder so sessions survive restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load_settings(
    instance_path: Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from the environment (``environ``) and explicit ``overrides``.

    Overrides win over the environment; keys are the lower-case field names or the upper-case
    variable names. Anything unknown in ``overrides`` is kept in ``extra`` and copied to Flask config.
    """
    env = os.environ if environ is None else environ
    given: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    mode = str((overrides or {}).get("PORTAL_MODE") or env.get("PORTAL_MODE") or "demo").lower()
    if mode not in MODES:
        raise ConfigError(f"PORTAL_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    for attr, var in _ENV_NAMES.items():
        if env.get(var, "") != "":
            given[attr] = _coerce(attr, env[var])
    for key, value in (overrides or {}).items():
        attr = key.lower()
        if key == "PORTAL_MODE":
            continue
        if attr in _ENV_NAMES:
            given[attr] = value
        else:
            extra[key] = value

    if mode == "production":
        missing = [var for var in PRODUCTION_REQUIRED if not given.get(var.lower())]
        if missing:
            raise ConfigError(
                "production mode refuses to start: set "
                + ", ".join(missing)
                + " (see the README's Configuration section)"
            )
        given.setdefault("job_runner", "rq")
        given.setdefault("session_cookie_secure", True)
        if given["job_runner"] != "rq":
            raise ConfigError("production mode runs jobs through RQ: JOB_RUNNER must be 'rq'")

    if given.get("database_url"):
        given["database_url"] = normalize_database_url(given["database_url"])
    if not given.get("secret_key"):
        given["secret_key"] = _instance_secret(instance_path)
    if not given.get("database_url"):
        name = "portal-test.sqlite" if mode == "test" else "portal.sqlite"
        given["database_url"] = f"sqlite:///{instance_path / name}"
    if "job_runner" not in given:
        given["job_runner"] = "rq" if given.get("redis_url") and mode != "demo" else "inline"
    if given["job_runner"] not in {"rq", "inline"}:
        raise ConfigError(f"JOB_RUNNER must be 'rq' or 'inline', not {given['job_runner']!r}")
    if given["job_runner"] == "rq" and not given.get("redis_url"):
        raise ConfigError("JOB_RUNNER=rq needs REDIS_URL")
    return replace(Settings(mode=mode, extra=extra), **given)


def normalize_database_url(url: str) -> str:
    """``postgresql://`` (as Heroku-style and libpq URLs write it) means psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def flask_config(settings: Settings) -> dict[str, Any]:
    """Translate settings into the Flask and extension config keys."""
    production = settings.mode == "production"
    config: dict[str, Any] = {
        "PORTAL": settings,
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(settings.database_url),
        "TESTING": settings.mode == "test",
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.session_cookie_secure or production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": settings.session_cookie_secure or production,
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        # Code entry is rate-limited (Flask-Limiter): Redis in production, memory otherwise. If the
        # storage fails, limits fall back to per-process memory instead of switching off.
        "RATELIMIT_STORAGE_URI": settings.ratelimit_storage_url
        or (settings.redis_url if production else "memory://"),
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        # Demo mode serves concurrent requests from one SQLite file: take the write lock at BEGIN.
        "SQLITE_BEGIN_IMMEDIATE": settings.mode == "demo",
    }
    config.update(settings.extra)
    return config


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Threads (the live test server, in-process jobs) share the file; wait for locks, don't fail.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
