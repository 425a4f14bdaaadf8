"""Live servers for integration tests: the portal and the Keycloak emulator talking real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.demo import seed_demo
from portal.extensions import db
from tests.conftest import USES_POSTGRES, _base_config, _truncate_all
from tests.support.browser import Browser
from tests.support.emulators import Edx, realm_for
from tests.support.live_server import DeferredApp, live_server


@dataclass
class Sso:
    portal_url: str
    keycloak_url: str
    app: Flask
    keycloak: Flask
    stack: ExitStack = field(repr=False)

    def browser(self) -> Browser:
        return Browser()

    def login(self, username: str, next_path: str = "") -> tuple[Browser, Any]:
        browser = Browser()
        start = browser.get(
            f"{self.portal_url}/auth/login" + (f"?next={next_path}" if next_path else "")
        )
        assert start.status_code == 200, start.text[:500]
        final = browser.keycloak_login(start, username)
        return browser, final


@pytest.fixture
def sso_factory(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Sso]]:
    """Start the Keycloak emulator and the portal (each on its own port) wired to each other.

    ``keycloak_wrapper`` may wrap the emulator's WSGI app (e.g. a tampering proxy); ``portal_config``
    overrides the portal's settings."""
    from emulators.keycloak import create_app as create_keycloak
    from portal import create_app
    from portal.extensions import db

    stacks: list[ExitStack] = []
    apps: list[Flask] = []

    def make(
        keycloak_wrapper: Callable[[Any, str], Any] | None = None, **portal_config: Any
    ) -> Sso:
        stack = ExitStack()
        stacks.append(stack)
        portal_slot, kc_slot = DeferredApp(), DeferredApp()
        portal_url = stack.enter_context(live_server(portal_slot))
        kc_url = stack.enter_context(live_server(kc_slot))
        realm_file = realm_for(portal_url, tmp_path / f"realm-{len(stacks)}.json")
        keycloak = create_keycloak({"KEYCLOAK_EMULATOR_REALMS": str(realm_file)})
        kc_slot.app = keycloak_wrapper(keycloak, kc_url) if keycloak_wrapper else keycloak
        config = {"KEYCLOAK_SERVER_URL": kc_url, "PUBLIC_BASE_URL": portal_url, **portal_config}
        app = create_app(_base_config(tmp_path / "instance", database_url, **config))
        apps.append(app)
        portal_slot.app = app
        return Sso(portal_url, kc_url, app, keycloak, stack)

    yield make
    for stack in reversed(stacks):
        stack.close()
    if USES_POSTGRES and apps:
        _truncate_all(apps[0])
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def sso(sso_factory: Callable[..., Sso]) -> Iterator[Sso]:
    """The portal with demo data, and the emulator with the demo realm."""
    from portal.demo import seed_demo
    from portal.extensions import db

    env = sso_factory()
    with env.app.app_context():
        seed_demo()
        db.session.commit()
        yield env


@pytest.fixture
def edx(rq_app_factory: Callable[..., Flask], job_runner_for: Callable[..., Any]) -> Iterator[Any]:
    """The portal (with the demo courseware) against the Open edX emulator on a live server, and
    a job runner: ``.app``, ``.edx`` (the emulator's client), ``.jobs``."""
    from emulators.openedx import create_app as create_openedx

    with live_server(create_openedx({})) as url:
        app = rq_app_factory(OPENEDX_LMS_URL=url, OPENEDX_STUDIO_URL=url)
        with app.app_context():
            seed_demo()
            db.session.commit()

            class Env:
                pass

            env: Any = Env()
            env.app, env.edx, env.jobs = app, Edx(url), job_runner_for(app)
            yield env
