"""One typed configuration object, read from the environment and checked at start-up.

Three modes (``PORTAL_MODE``):

* ``demo`` (the default when nothing is set): a SQLite file and a generated secret key persisted in the
  instance folder, jobs run in-process right after commit, Keycloak and Open edX emulators on loopback,
  and email captured in the database outbox (``/outbox``) instead of being sent.
* ``test``: like demo but isolated; the test suite passes its own overrides.
* ``production``: refuses to start unless every secret and real service URL is given; email goes out
  through SMTP unless ``MAIL_BACKEND=outbox`` is chosen explicitly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from email.utils import parseaddr
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
    "CYBERSOURCE_REST_URL",
    "CYBERSOURCE_MERCHANT_ID",
    "CYBERSOURCE_REST_KEY_ID",
    "CYBERSOURCE_REST_SECRET_KEY",
)

# "outbox": capture every email in the database (shown at /outbox); "smtp": deliver it.
MAIL_BACKENDS = ("outbox", "smtp")
# What real delivery (MAIL_BACKEND=smtp, production's default) refuses to start without.
SMTP_REQUIRED = ("SMTP_HOST", "MAIL_FROM")


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
    # The long-running worker pulls Keycloak's organizations (and their linked identity providers)
    # this often; 0 turns the scheduled sync off.
    keycloak_org_sync_interval_seconds: float = 3600.0
    openedx_lms_url: str = "http://127.0.0.1:8190"
    openedx_studio_url: str = "http://127.0.0.1:8190"
    openedx_client_id: str = "b2b-portal"
    openedx_client_secret: str = "demo-edx-secret"  # noqa: S105 - the emulator's documented demo secret
    # The long-running worker syncs each contract run's grades, progress and certificates this
    # often; 0 turns the scheduled sync off (staff can still sync a run on demand).
    openedx_outcome_sync_interval_seconds: float = 3600.0
    # Runs that ended longer ago than this are no longer synced on the schedule.
    openedx_outcome_sync_after_end_days: int = 60
    # CyberSource Secure Acceptance hosted checkout (the payment emulator in demo mode).
    cybersource_url: str = "http://127.0.0.1:8195/pay"
    cybersource_profile_id: str = "demo-profile"
    cybersource_access_key: str = "demo-access-key"
    cybersource_secret_key: str = "demo-cybersource-secret"  # noqa: S105 - the emulator's demo secret
    # CyberSource's REST API, for refunds (``POST /pts/v2/payments/{id}/refunds``), signed with an
    # HTTP Signature shared secret (key id and base64 secret made in the Business Center). The
    # payment emulator answers it in demo mode.
    cybersource_rest_url: str = "http://127.0.0.1:8195"
    cybersource_merchant_id: str = "demo-merchant"
    cybersource_rest_key_id: str = "demo-rest-key-id"
    cybersource_rest_secret_key: str = "ZGVtby1jeWJlcnNvdXJjZS1yZXN0LXNlY3JldC1rZXk="  # noqa: S105 - the emulator's demo secret
    # The scheduler's timetable: "name=cron expression" pairs separated by ";" override the
    # defaults of ``portal.jobs.periodic`` (e.g. "seat-notices=*/5 * * * *"); "name=off" stops one.
    schedule: str = ""
    # Notices by email (``services.notices``): days before a contract's end, and seat usage
    # percentages, that each send one notice to the organization's admins.
    contract_notice_days: str = "30,7"
    seat_notice_percents: str = "75,100"
    # Reminders to the invitee of an assigned, unredeemed code, this many days after assignment.
    code_reminder_days: str = "3,10,19"
    # How long the download link in a scheduled report email works.
    report_link_days: int = 7
    # Flask-Limiter storage: "memory://" in demo, REDIS_URL in production when unset.
    ratelimit_storage_url: str = ""
    redeem_rate_limit: str = "10 per minute;50 per hour"
    # Requests per token to the organization API (/api/org/v1).
    org_api_rate_limit: str = "120 per minute"
    http_timeout_seconds: float = 10.0
    # Email: "outbox" in demo and test, "smtp" in production when unset.
    mail_backend: str = "outbox"
    mail_from: str = "B2B Learning Portal <no-reply@portal.example>"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    # STARTTLS upgrades a plain connection (port 587); SSL is TLS from the start (port 465).
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = 10.0
    session_cookie_secure: bool = False
    log_level: str = "INFO"
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto (0: trust none). Behind
    # one TLS proxy set 1, so rate limits and the audit log see each client's own address.
    proxy_count: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def uses_redis(self) -> bool:
        return self.job_runner == "rq"

    @property
    def captures_mail(self) -> bool:
        """Email is kept in the database outbox (and shown at /outbox) instead of being sent."""
        return self.mail_backend == "outbox"


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
    if kind == "int":
        try:
            return int(raw.strip())
        except ValueError as exc:
            raise ConfigError(f"{name.upper()} must be a whole number, not {raw!r}") from exc
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
    mode = str((overrides or {}).get("PORTAL_MODE") or env.get("PORTAL_MODE") or "demo").lower()
    if mode not in MODES:
        raise ConfigError(f"PORTAL_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    given, extra = _given(env, overrides or {})
    _mail_backend(given, mode)
    if mode == "production":
        _production(given)
    _defaults(given, mode, instance_path)
    settings = replace(Settings(mode=mode, extra=extra), **given)
    _check_mail(settings)
    return settings


def _given(
    env: Mapping[str, str], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings named in the environment, then in ``overrides``; and the unknown overrides."""
    given: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for attr, var in _ENV_NAMES.items():
        if env.get(var, "") != "":
            given[attr] = _coerce(attr, env[var])
    for key, value in overrides.items():
        attr = key.lower()
        if key == "PORTAL_MODE":
            continue
        if attr in _ENV_NAMES:
            # Overrides are usually typed already; text (e.g. SMTP_PORT="2525") is read like the environment.
            given[attr] = _coerce(attr, value) if isinstance(value, str) else value
        else:
            extra[key] = value
    return given, extra


def _mail_backend(given: dict[str, Any], mode: str) -> None:
    given.setdefault("mail_backend", "smtp" if mode == "production" else "outbox")
    given["mail_backend"] = str(given["mail_backend"]).strip().lower()
    if given["mail_backend"] not in MAIL_BACKENDS:
        raise ConfigError(
            f"MAIL_BACKEND must be one of {', '.join(MAIL_BACKENDS)}, not {given['mail_backend']!r}"
        )


def _production(given: dict[str, Any]) -> None:
    """Production refuses to start without its secrets and real URLs, naming what is missing."""
    required: tuple[str, ...] = PRODUCTION_REQUIRED
    if given["mail_backend"] == "smtp":
        required += SMTP_REQUIRED
    missing = [var for var in required if not given.get(var.lower())]
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


def _defaults(given: dict[str, Any], mode: str, instance_path: Path) -> None:
    """The demo and test defaults: a kept secret key, SQLite in the instance folder, inline jobs."""
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


def _check_mail(settings: Settings) -> None:
    """Mail settings that cannot work are named at start-up, not at the first email."""
    _, address = parseaddr(settings.mail_from)
    if any(ch in settings.mail_from for ch in "\r\n") or "@" not in address:
        raise ConfigError(
            "MAIL_FROM must be an address such as 'Portal <no-reply@example.org>', "
            f"not {settings.mail_from!r}"
        )
    if not 1 <= settings.smtp_port <= 65535:
        raise ConfigError(f"SMTP_PORT must be between 1 and 65535, not {settings.smtp_port}")
    if settings.smtp_ssl and settings.smtp_starttls:
        raise ConfigError(
            "SMTP_SSL and SMTP_STARTTLS exclude each other: SSL is TLS from the start (port 465), "
            "STARTTLS upgrades a plain connection (port 587)"
        )
    if settings.smtp_timeout_seconds <= 0:
        raise ConfigError("SMTP_TIMEOUT_SECONDS must be more than 0")
    if settings.mail_backend == "smtp" and not settings.smtp_host:
        raise ConfigError("MAIL_BACKEND=smtp needs SMTP_HOST")


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
