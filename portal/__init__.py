"""The B2B learning portal: an app factory that only wires things together."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from portal.config import flask_config, load_settings
from portal.core.unit_of_work import PortalFlask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal. ``config`` overrides environment variables (used by tests)."""
    app = PortalFlask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(
            (config or {}).get("INSTANCE_PATH")
            or os.environ.get("PORTAL_INSTANCE_PATH")
            or ROOT / "instance"
        ),
    )
    settings = load_settings(Path(app.instance_path), config)
    app.config.from_mapping(flask_config(settings))
    logging.basicConfig(level=settings.log_level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    register_extensions(app)
    register_proxy(app, settings.proxy_count)
    register_url_converters(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_error_handlers(app)
    register_commands(app)
    register_jobs(settings.job_modules)
    return app


def register_extensions(app: Flask) -> None:
    from portal import models  # noqa: F401 - registers every table before migrations look
    from portal.extensions import csrf, db, limiter, login_manager, migrate
    from portal.i18n import init_app as init_i18n
    from portal.integrations.keycloak_oidc import init_oauth
    from portal.sqlite_setup import configure as configure_sqlite

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine, immediate=bool(app.config.get("SQLITE_BEGIN_IMMEDIATE")))
    migrate.init_app(
        app, db, directory=str(ROOT / "migrations"), compare_type=True, render_as_batch=True
    )
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    init_oauth(app)
    init_i18n(app)


def register_proxy(app: Flask, proxies: int) -> None:
    """Trust X-Forwarded-For/-Proto from exactly ``proxies`` proxies in front (none by default:
    without a proxy those headers are the client's to forge)."""
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]


def register_url_converters(app: Flask) -> None:
    from portal.core.params import BoundedIntConverter

    app.url_map.converters["int"] = BoundedIntConverter


def register_blueprints(app: Flask) -> None:
    from portal.auth.views import bp as auth_bp
    from portal.catalog.api import bp as catalog_api_bp
    from portal.catalog.views import bp as catalog_bp
    from portal.checkout.views import bp as checkout_bp
    from portal.core.views import bp as core_bp
    from portal.learner.views import bp as learner_bp
    from portal.org_admin.views import bp as org_admin_bp
    from portal.org_api.views import bp as org_api_bp
    from portal.outbox.views import bp as outbox_bp
    from portal.staff import (  # noqa: F401 - add their routes to staff_bp
        codes,
        contract_courseware,
        contract_renewal,
        contracts,
        courseware,
        jobs_audit,
        order_refunds,
        orders,
        organizations,
        outcomes,
        refunds,
    )
    from portal.staff.views import bp as staff_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(catalog_bp, url_prefix="/catalog")
    app.register_blueprint(catalog_api_bp, url_prefix="/api/v1")
    app.register_blueprint(learner_bp, url_prefix="/learner")
    app.register_blueprint(checkout_bp, url_prefix="/checkout")
    app.register_blueprint(org_admin_bp, url_prefix="/org")
    app.register_blueprint(org_api_bp, url_prefix="/api/org/v1")
    app.register_blueprint(staff_bp, url_prefix="/staff")
    if app.config["PORTAL"].captures_mail:  # the demo outbox exists only while mail is captured
        app.register_blueprint(outbox_bp, url_prefix="/outbox")


def register_request_hooks(app: Flask) -> None:
    from portal.core.access import require_login_by_default
    from portal.core.context import template_globals
    from portal.core.input_guard import refuse_nul_bytes
    from portal.core.security_headers import set_security_headers
    from portal.core.text import register_filters

    register_filters(app)
    app.before_request(refuse_nul_bytes)
    app.before_request(require_login_by_default)
    app.after_request(set_security_headers)
    app.context_processor(template_globals)


def register_error_handlers(app: Flask) -> None:
    from portal.core.errors import register

    register(app)


def register_commands(app: Flask) -> None:
    from portal.cli import register

    register(app)


def register_jobs(extra_modules: str) -> None:
    from portal.tasks import (  # noqa: F401 - registers their handlers
        codes,
        email,
        keycloak,
        openedx,
        openedx_enrollments,
        outcomes,
        refunds,
        scheduled,
        system,
    )

    for name in filter(None, (m.strip() for m in extra_modules.split(","))):
        importlib.import_module(name)
