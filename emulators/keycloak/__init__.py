"""A faithful local stand-in for the parts of Keycloak 26 the B2B portal uses.

``flask --app emulators.keycloak run --port 8180`` serves OIDC at Keycloak's paths and the admin
REST API under ``/admin/realms``; see README.md in this folder.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint as _Blueprint
from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import (
    admin_client_scopes,
    admin_clients,
    admin_idps,
    admin_org_links,
    admin_org_members,
    admin_organizations,
    admin_realms,
    admin_roles,
    admin_users,
    authorize,
    broker,
    login_pages,
    logout,
    oidc,
    token_endpoint,
)
from .config import EmulatorConfig, load_config
from .http_utils import KcError, generic_error_body, json_response
from .oidc_common import error_page
from .seed import bootstrap_master, load_realm_file
from .sessions import deliver_backchannel_logouts
from .store import Store

log = logging.getLogger(__name__)
BLUEPRINTS = (
    oidc.bp, token_endpoint.bp, authorize.bp, login_pages.bp, broker.bp, logout.bp,
    admin_realms.bp, admin_clients.bp, admin_roles.bp, admin_users.bp, admin_idps.bp,
    admin_client_scopes.bp, admin_organizations.bp, admin_org_members.bp, admin_org_links.bp,
)  # fmt: skip

__all__ = ["EmulatorConfig", "Store", "create_app"]


def _locked(view: Callable[..., Any], store: Store) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with store.lock:
            return view(*args, **kwargs)

    return wrapper


class _TrailingSlash:
    """JAX-RS matches ``/admin/realms/`` like ``/admin/realms``; the npm client relies on it."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        return self.app(environ, start_response)


def _error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    if (
        request.path.startswith("/admin")
        or status == 405
        or request.accept_mimetypes.best == "application/json"
    ):
        return json_response(generic_error_body(status), status, error=True)
    message = "Page not found" if status == 404 else (exc.description or "Invalid Request")
    return error_page(message, status)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The emulator app; ``config`` keys override the environment (see config.py)."""
    settings = load_config(config)
    store = Store(settings)
    bootstrap_master(store)
    if settings.realms_path:
        load_realm_file(store, settings.realms_path)

    app = Flask(__name__, static_folder=None)
    app.extensions["keycloak_emulator"] = store
    app.json.sort_keys = False  # type: ignore[attr-defined]
    resources = _Blueprint("kc_resources", __name__, static_folder="static",
                           static_url_path="/resources/emulator")  # fmt: skip
    app.register_blueprint(resources)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    @app.get("/")
    def index() -> str:
        realms = sorted(store.realms)
        return render_template("index.html", realms=realms, title="Keycloak emulator", realm=None)

    @app.get("/health/ready")
    def ready() -> Response:
        return json_response({"status": "UP", "checks": []})

    for endpoint, view in list(app.view_functions.items()):
        if not endpoint.endswith("static"):
            app.view_functions[endpoint] = _locked(view, store)

    @app.errorhandler(KcError)
    def kc_error(exc: KcError) -> Response:
        return exc.response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _error_response(exc)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("emulator bug while handling %s %s", request.method, request.path)
        return json_response({"error": "unknown_error"}, 500, error=True)

    app.wsgi_app = _TrailingSlash(app.wsgi_app)  # type: ignore[method-assign]

    @app.after_request
    def after(response: Response) -> Response:
        deliver_backchannel_logouts()
        return response

    return app
