"""Open edX emulator: the Studio (CMS) and LMS REST APIs a B2B portal uses, from one base URL.

Start it with ``flask --app emulators.openedx run --port 8190``; see ``README.md`` here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import Flask

from . import (
    admin,
    auth,
    certificates,
    completion,
    course_runs,
    courses,
    enrollment_reads,
    enrollments,
    grades,
    modes,
    outcome_admin,
    pages,
    users,
)
from .config import Settings, resolve
from .errors import register_error_handlers
from .faults import FaultRegistry, FaultSpecError, install
from .seed import apply_seed, load_seed_file
from .state import EXTENSION_KEY, Emulator, emulator
from .store import Store
from .throttle import Throttle
from .tokens import TokenService

__all__ = ["Emulator", "create_app", "emulator"]

_SEEDED = "seeded"


class MergeSlashes:
    """Treat ``//`` as ``/`` in paths, as nginx in front of edX does (edx-api-client sends ``//``)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = re.sub("/{2,}", "/", path)
        return self.app(environ, start_response)


def _initial_fault_specs(raw: str) -> list[Any]:
    """``OPENEDX_EMULATOR_FAULTS``: a fault, a list, or ``{"faults": [...], "unenrollable_after_clone_s": S}``."""
    if not raw.strip():
        return []
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"OPENEDX_EMULATOR_FAULTS is not valid JSON: {exc}") from exc
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and "faults" in data:
        specs = list(data["faults"])
        if "unenrollable_after_clone_s" in data:
            specs.append({"unenrollable_after_clone_s": data["unenrollable_after_clone_s"]})
        return specs
    return [data]


def _ensure_service_user(store: Store, settings: Settings) -> None:
    """The service client's user always exists and is global staff (also on a persisted DB)."""
    with store.atomic():
        user = store.get_user(settings.service_username)
        if user is None:
            store.create_user(
                settings.service_username,
                settings.service_email,
                name="B2B portal service user",
                is_staff=True,
            )
        elif not user.is_staff:
            user.is_staff = True
            store.save_user(user)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an emulator app. ``config`` keys override the ``OPENEDX_EMULATOR_*`` environment."""
    settings = resolve(config)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = Store(settings.db_path)
    seed = load_seed_file(settings.seed_path)
    emu = Emulator(
        settings=settings,
        store=store,
        tokens=TokenService(store, settings.token_ttl),
        faults=FaultRegistry(),
        throttle=Throttle(settings.throttle),
        seed=seed,
    )
    app.extensions[EXTENSION_KEY] = emu
    if store.get_meta(_SEEDED) is None:
        apply_seed(store, seed, settings)
        store.set_meta(_SEEDED, "1")
    _ensure_service_user(store, settings)
    try:
        emu.faults.add_all(_initial_fault_specs(settings.faults_json))
    except FaultSpecError as exc:
        raise ValueError(f"OPENEDX_EMULATOR_FAULTS: {exc}") from exc

    register_error_handlers(app)
    install(app, emu.faults)
    for module in (
        auth,
        course_runs,
        modes,
        enrollments,
        enrollment_reads,
        users,
        courses,
        grades,
        certificates,
        completion,
        pages,
        admin,
        outcome_admin,
    ):
        app.register_blueprint(module.bp)
    app.wsgi_app = MergeSlashes(app.wsgi_app)  # type: ignore[method-assign]
    return app
