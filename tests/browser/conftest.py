"""Browser journeys: Playwright drives Debian's Chromium through the portal and the emulators.

Every test gets its own world, exactly like the rest of the suite: its own database (a copy of the
migrated template on SQLite, the truncated PostgreSQL in CI), the demo data with its contract runs
cloned in a fresh Open edX emulator, and a fresh Keycloak emulator and payment emulator, each on its
own loopback port. Only Chromium is shared: it is launched once for the package (about a second) and
each test gets a new browser context (its own cookies and storage), so tests never depend on each
other's order.

The portal runs its jobs inline, after the commit of the request that records them (as in demo
mode), against the emulators' live ports. ``World.job_worker()`` adds what ``flask --app portal
worker`` does in that mode: a loop that runs jobs whose retry time has come.

Every journey runs in each of the portal's languages (the ``locale`` fixture: test ids end in
``[en]`` and ``[fr]``, marked ``in_en`` and ``in_fr`` for ``pytest -m in_fr``): the browser asks
for that language in ``Accept-Language``, and the test reads the words it expects through
``tests.support.i18n.tr``, which fails on a message the French catalog lacks. The emulators' own
pages (Keycloak's sign-in, the payment page, edX's certificate) stay English.

Each journey ends with ``Journey.finish()``: a full-page screenshot of the final page in
``test-artifacts/screenshots/<test name>.png`` (``<test name>-fr.png`` in French), then the checks
that the browser saw no console error, no uncaught script error, no 5xx answer and no request
leaving this machine. A failing journey also leaves ``<test name>-failure.png`` there.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Request,
    Response,
    Route,
    expect,
    sync_playwright,
)
from sqlalchemy import select

from tests.conftest import ROOT
from tests.support.emulators import realm_for
from tests.support.i18n import DEFAULT_LOCALE, LANGUAGES, tr, use_language
from tests.support.live_server import DeferredApp, live_server

CHROMIUM_PATHS = (shutil.which("chromium"), "/usr/bin/chromium")
CHROMIUM = next((p for p in CHROMIUM_PATHS if p and Path(p).exists()), None)
# Each journey module skips itself with this reason when CHROMIUM is None (CI installs Chromium).
SKIP_REASON = "Chromium is not installed (apt-get install chromium): browser journeys skipped"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TIMEOUT_MS = 15_000  # every wait in a journey: navigation, locator actions and expect()
PASSWORD = "demo"  # every account of the emulator's demo realm
BROWSER_LOCALES = {"en": "en-GB", "fr": "fr-FR"}  # navigator.language and Accept-Language


# ----------------------------------------------------------------------------- failure screenshots

PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


# ----------------------------------------------------------------------------- the servers


@dataclass
class World:
    """The portal with the demo data, and the three emulators it talks to, on live ports."""

    app: Flask
    portal_url: str
    keycloak_url: str
    edx_url: str
    pay_url: str
    payment: Any  # emulators.payment.Emulator: its signed responses and notification deliveries

    def edx_state(self) -> dict[str, Any]:
        """What the Open edX emulator holds (runs, users, enrollments), read as an operator would."""
        answer = requests.get(f"{self.edx_url}/__emulator__/state", timeout=10)
        answer.raise_for_status()
        state: dict[str, Any] = answer.json()
        return state

    def edx_fault(self, **spec: Any) -> None:
        answer = requests.post(f"{self.edx_url}/__emulator__/faults", json=spec, timeout=10)
        assert answer.status_code == 201, answer.text

    @contextmanager
    def job_worker(self, interval: float = 0.2) -> Iterator[None]:
        """Run due jobs (retries whose time has come) while the block runs, as ``flask --app portal
        worker`` does with ``JOB_RUNNER=inline``."""
        from portal.extensions import db
        from portal.jobs.sweeper import sweep

        stop = threading.Event()

        def loop() -> None:
            with self.app.app_context():
                try:
                    while not stop.wait(interval):
                        sweep()
                finally:
                    db.session.remove()

        thread = threading.Thread(target=loop, name="browser-journey-jobs", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)


@pytest.fixture
def world(app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[World]:
    """This test's portal (on this test's database, like ``app_factory``'s) with the demo data, its
    contract runs ready in this test's Open edX emulator; the test runs in the portal's app context."""
    from emulators.keycloak import create_app as create_keycloak
    from emulators.openedx import create_app as create_openedx
    from emulators.payment import create_app as create_payment
    from emulators.payment.state import EXTENSION_KEY
    from portal.demo import seed_demo
    from portal.extensions import db
    from portal.models import CourseRun, EdxRunState

    with ExitStack() as stack:
        portal_slot = DeferredApp()
        portal_url = stack.enter_context(live_server(portal_slot))
        realm = realm_for(portal_url, tmp_path / "realm.json")
        keycloak_url = stack.enter_context(
            live_server(create_keycloak({"KEYCLOAK_EMULATOR_REALMS": str(realm)}))
        )
        edx_url = stack.enter_context(live_server(create_openedx({})))
        payment = create_payment({})  # the portal signs its own receipt and notify URLs
        pay_url = stack.enter_context(live_server(payment))
        app = app_factory(
            KEYCLOAK_SERVER_URL=keycloak_url,
            OPENEDX_LMS_URL=edx_url,
            OPENEDX_STUDIO_URL=edx_url,
            CYBERSOURCE_URL=f"{pay_url}/pay",
            PUBLIC_BASE_URL=portal_url,
            WTF_CSRF_ENABLED=True,  # a real browser posts the real forms, tokens included
            JOB_BACKOFF_BASE_SECONDS=1,  # a retry waits for the job worker, visibly
        )
        portal_slot.app = app
        with app.app_context():
            seed_demo(contract_runs=True, seat_history=True)
            db.session.commit()  # the contract runs' clone jobs run now, against the edX emulator
            not_ready = db.session.scalars(
                select(CourseRun.course_key).where(
                    CourseRun.contract_id.is_not(None), CourseRun.edx_state != EdxRunState.READY
                )
            ).all()
            assert not not_ready, f"demo contract runs not ready in edX: {not_ready}"
            try:
                yield World(
                    app=app,
                    portal_url=portal_url,
                    keycloak_url=keycloak_url,
                    edx_url=edx_url,
                    pay_url=pay_url,
                    payment=payment.extensions[EXTENSION_KEY],
                )
            finally:
                db.session.remove()


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    assert CHROMIUM is not None, SKIP_REASON
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _is_loopback(url: str) -> bool:
    return url.startswith(("http://127.0.0.1:", "http://localhost:", "data:", "about:"))


@dataclass
class Journey:
    """One test's browser tab, and everything wrong the browser noticed on the way."""

    page: Page
    context: BrowserContext
    world: World
    name: str  # of the test, for its screenshots: the test's id, "-fr" added in French
    locale: str = DEFAULT_LOCALE
    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (url, text)
    expected_refusals: set[tuple[str, int]] = field(default_factory=set)
    server_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    # -- what the browser saw

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.console_errors.append((where, message.text))

    def on_page_error(self, error: Any) -> None:
        self.console_errors.append(("uncaught", str(error.error)))

    def refused(self, response: Response, status: int) -> None:
        """A page the journey expects to be answered with a 4xx (a refusal shown to the user):
        check its status, and accept the console line Chromium logs for it."""
        assert response.status == status, f"{response.url}: {response.status}, not {status}"
        self.expected_refusals.add((response.url, status))

    def unexpected_console_errors(self) -> list[str]:
        def expected(url: str, text: str) -> bool:
            return any(
                url == refused_url
                and text.startswith(
                    f"Failed to load resource: the server responded with a status of {status} "
                )
                for refused_url, status in self.expected_refusals
            )

        return [f"{url}: {text}" for url, text in self.console_errors if not expected(url, text)]

    def on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def on_request_failed(self, request: Request) -> None:
        # A navigation that replaces the page cancels its pending fetches: that is not a failure.
        if request.failure != "net::ERR_ABORTED" and _is_loopback(request.url):
            self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def guard(self, route: Route) -> None:
        self.outside_requests.append(route.request.url)
        route.abort("blockedbyclient")

    # -- screenshots and the final checks

    def screenshot(self, suffix: str = "", *, full_page: bool = True) -> Path:
        """A PNG of the page (the whole page, or what the window shows) in test-artifacts."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}{suffix}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def finish(self) -> Path:
        """Screenshot the final page, then check that nothing went wrong along the way."""
        self.page.wait_for_load_state("load")  # also delivers the browser's pending events
        path = self.screenshot()
        errors = self.unexpected_console_errors()
        assert errors == [], f"console errors: {errors}"
        assert self.server_errors == [], f"5xx answers: {self.server_errors}"
        assert self.failed_requests == [], f"failed requests: {self.failed_requests}"
        assert self.outside_requests == [], f"requests beyond loopback: {self.outside_requests}"
        return path

    # -- signing in and out through the Keycloak emulator

    def sign_in(self, email: str, name: str, *, via_idp: bool = False) -> None:
        """From the home page's Sign in button through the emulator's identity-first login: the
        password page, or (for a domain with its own identity provider) the Continue page."""
        page = self.page
        page.goto("/")
        page.get_by_role("banner").get_by_role("link", name=tr("Sign in")).click()
        expect(page.locator("#kc-page-title")).to_have_text("Sign in to your account")
        page.get_by_label("Username or email").fill(email)
        page.locator("#kc-login").click()
        if via_idp:
            expect(page.locator("#kc-page-title")).to_have_text(
                "Redirecting to your organization's identity provider"
            )
            expect(page.locator("#kc-idp-email")).to_have_text(email)
            page.get_by_role("button", name="Continue").click()
        else:
            expect(page.locator("#kc-attempted-username")).to_have_text(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.locator("#kc-login").click()
        expect(page.locator(".flash-success")).to_have_text(tr("Signed in as %(name)s.", name=name))
        expect(page.locator(".account .who")).to_have_text(name)

    def sign_out(self) -> None:
        page = self.page
        page.get_by_role("button", name=tr("Sign out")).click()
        expect(page.locator(".flash-info")).to_have_text(tr("You are signed out."))
        expect(page.get_by_role("banner").get_by_role("link", name=tr("Sign in"))).to_be_visible()


@pytest.fixture(
    params=[pytest.param(lang, marks=getattr(pytest.mark, f"in_{lang}")) for lang in LANGUAGES]
)
def locale(request: pytest.FixtureRequest) -> Iterator[str]:
    """The language the test reads the portal in (``tr`` speaks it for the test's duration)."""
    with use_language(request.param):
        yield request.param


def screenshot_name(node: pytest.Item, locale: str) -> str:
    """The test's name without its language, then "-fr" in French: English screenshots keep the
    names they had before the suite spoke two languages."""
    callspec = getattr(node, "callspec", None)
    others = [str(v) for k, v in callspec.params.items() if k != "locale"] if callspec else []
    name = node.originalname + (f"[{'-'.join(others)}]" if others else "")  # type: ignore[attr-defined]
    return name if locale == DEFAULT_LOCALE else f"{name}-{locale}"


@pytest.fixture
def journey(
    chromium: Browser, world: World, locale: str, request: pytest.FixtureRequest
) -> Iterator[Journey]:
    expect.set_options(timeout=TIMEOUT_MS)
    context = chromium.new_context(
        base_url=world.portal_url,
        viewport={"width": 1280, "height": 900},
        locale=BROWSER_LOCALES[locale],
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    name = screenshot_name(request.node, locale)
    journey = Journey(page=page, context=context, world=world, name=name, locale=locale)
    (SCREENSHOTS / f"{journey.name}-failure.png").unlink(missing_ok=True)  # from an earlier run
    context.route(lambda url: not _is_loopback(url), journey.guard)
    context.on("console", journey.on_console)
    context.on("weberror", journey.on_page_error)
    context.on("response", journey.on_response)
    context.on("requestfailed", journey.on_request_failed)
    try:
        yield journey
    finally:
        report = request.node.stash.get(PHASE_REPORTS, {}).get("call")
        if report is None or report.failed or hasattr(report, "wasxfail"):
            try:
                print(f"failure screenshot: {journey.screenshot('-failure')}")
            except Error as exc:
                print(f"no failure screenshot: {exc}")
        context.close()


# ----------------------------------------------------------------------------- database helpers


def fresh() -> Any:
    """The test's database session, with nothing cached: the servers' threads wrote meanwhile."""
    from portal.extensions import db

    db.session.rollback()
    db.session.expire_all()
    return db.session


def unused_code(contract_slug: str) -> str:
    """An unused, unassigned, active code of a demo contract."""
    from portal.models import Contract, EnrollmentCode

    session = fresh()
    code = session.scalar(
        select(EnrollmentCode.code)
        .join(Contract, Contract.id == EnrollmentCode.contract_id)
        .where(
            Contract.slug == contract_slug,
            EnrollmentCode.times_redeemed == 0,
            EnrollmentCode.assigned_email.is_(None),
            EnrollmentCode.deactivated_at.is_(None),
        )
        .order_by(EnrollmentCode.id)
        .limit(1)
    )
    assert code is not None, f"no unused code on {contract_slug}"
    return str(code)
