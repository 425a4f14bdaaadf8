"""Every page of every role, at 1280 and 390 px wide, checked for what people hit on a phone and for
accessibility, with a full-page screenshot of each in ``test-artifacts/screenshots/pages``.

The pages come from the app's ``url_map``: each GET endpoint belongs to the role its blueprint
serves (``ROLE_OF_BLUEPRINT``) unless ``NOT_PAGES`` says why it is no page (JSON, CSV, images,
redirects); ``test_every_get_endpoint_is_a_checked_page_or_excused`` fails for a new endpoint
nobody placed, and for a URL argument the demo data gives no value for. Each role shares one
world and one browser tab for all its pages (a world takes seconds to build); the problems of all
pages are collected and reported together, each naming page, width, rule and element. Every
check runs in English and in French (the ``locale`` fixture: French words are longer, and the
French pages must pass axe and fit a phone too); French screenshots end in ``-fr``.


On each page, at each width:

* the page itself must not scroll sideways (``scrollWidth`` of the scrolling element beyond the
  window);
* no element may reach past the window's right edge unless an ancestor scrolls sideways (a table
  in a ``.table-scroll`` box may be wide; a button cut off by the edge may not);
* axe-core (pinned in package.json, installed by ``dev.py``) finds no violation of WCAG 2.0, 2.1
  and 2.2 A and AA, nor of its best practices. It is injected with ``page.evaluate``, which runs
  outside the page's Content-Security-Policy: the CSP under test stays as strict as served.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import (
    CHROMIUM,
    SCREENSHOTS,
    SKIP_REASON,
    Journey,
    World,
    fresh,
    unused_code,
)
from tests.conftest import ROOT
from tests.support.i18n import DEFAULT_LOCALE, tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

WIDTHS = (1280, 390)
HEIGHTS = {1280: 900, 390: 844}  # a laptop, and an iPhone 12-15
PAGES = SCREENSHOTS / "pages"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_MISSING = (
    f"axe-core is not installed ({AXE} is missing): install Node.js with npm, then run "
    "`python3 dev.py test` (or `npm ci`) in the project folder"
)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]

ROLE_OF_BLUEPRINT = {
    "core": "anonymous",
    "catalog": "anonymous",
    "auth": "anonymous",
    "learner": "learner",
    "outbox": "learner",
    "checkout": "learner",
    "org_admin": "org_admin",
    "staff": "staff",
}
# GET endpoints that answer with no page to read, and why.
NOT_PAGES = {
    "static": "stylesheets, scripts and icons",
    "core.healthz": "JSON for the load balancer",
    "core.favicon": "an icon",
    "core.org_logo": "an image",
    "core.redeem_link": "redirects to the code form with the code filled in (checked there)",
    "auth.login": "redirects to Keycloak",
    "auth.callback": "Keycloak's redirect back: signs in and redirects",
    "org_admin.codes_export": "CSV",
    "org_admin.learners_export": "CSV",
    "org_admin.report_download": "CSV, behind a signed link",
    "staff.codes_export": "CSV",
    "staff.orders_csv": "CSV",
    "staff.job_status": "JSON polled by static/js/job-status.js",
    "org_admin.assign_bulk_status": "JSON polled by static/js/job-status.js",
}
NOT_PAGE_BLUEPRINTS = {
    "org_api": "the organization JSON API",
    "catalog_api": "the catalog JSON API",
}
SIGN_IN = {  # (email, name, through the organization's identity provider)
    "learner": ("learner@globex.example", "Alan Turing", False),
    "org_admin": ("admin@acme.example", "Grace Hopper", True),
    "staff": ("staff@portal.example", "Margaret Hamilton", False),
}


# ----------------------------------------------------------------------------- which pages


def get_endpoints(app: Flask) -> dict[str, Any]:
    return {r.endpoint: r for r in app.url_map.iter_rules() if "GET" in (r.methods or set())}


def is_page(endpoint: str) -> bool:
    return endpoint not in NOT_PAGES and endpoint.split(".")[0] not in NOT_PAGE_BLUEPRINTS


def role_pages(app: Flask, role: str, values: dict[str, Any]) -> list[tuple[str, str]]:
    """(endpoint, URL) of each page of ``role``, its URL arguments from the demo data."""
    adapter = app.url_map.bind("localhost")
    pages = []
    for endpoint, rule in sorted(get_endpoints(app).items()):
        if is_page(endpoint) and ROLE_OF_BLUEPRINT.get(endpoint.split(".")[0]) == role:
            these = {**values, **values["by_endpoint"].get(endpoint, {})}
            pages.append((endpoint, adapter.build(endpoint, {n: these[n] for n in rule.arguments})))
    return pages


def demo_values(world: World) -> dict[str, Any]:
    """A value for every URL argument, from the demo data plus what the demo lacks: Alan's seats
    on Globex's two code contracts (one enrollment, one order waiting for payment), an email in
    his outbox, a staff API token and a bulk code assignment of Acme's."""
    from portal.models import (
        ApiToken,
        Contract,
        ContractProgram,
        CourseRun,
        EnrollmentCode,
        Organization,
        OutboxMessage,
        Seat,
        User,
    )
    from portal.services import bulk_assignment
    from portal.services.api_tokens import issue_api_token
    from portal.services.enrollment import enroll_runs
    from portal.services.mail import queue_email
    from portal.services.redemption import redeem

    session = fresh()

    def one(query: Any) -> Any:
        found = session.scalar(query.limit(1))
        assert found is not None, f"the demo data has no {query}"
        return found

    def contract(slug: str) -> Any:
        return one(select(Contract).where(Contract.slug == slug))

    def contract_run(contract_id: int) -> Any:
        return one(select(CourseRun).where(CourseRun.contract_id == contract_id))

    alan = one(select(User).where(User.email == SIGN_IN["learner"][0]))
    staff = one(select(User).where(User.email == SIGN_IN["staff"][0]))
    open_seats, certificate = contract("globex-open-seats"), contract("globex-certificate")
    codes = [unused_code(c.slug) for c in (open_seats, certificate)]  # each rolls back: first
    redeem(alan, codes[0])
    enroll_runs(alan, open_seats.id, [contract_run(open_seats.id)])
    redeem(alan, codes[1])
    order = enroll_runs(alan, certificate.id, [contract_run(certificate.id)]).order
    assert order is not None, "the certificate contract asks no payment"
    message = queue_email(alan.email, "Welcome to Globex", "Your courses are ready.")
    token, _ = issue_api_token("Catalog sync", [], created_by_id=staff.id)
    leadership = contract("acme-leadership")
    grace = one(select(User).where(User.email == SIGN_IN["org_admin"][0]))
    bulk = bulk_assignment.start(
        leadership,
        leadership.organization,
        ["new.colleague@acme.example"],
        actor=grace,
        base_url=world.portal_url,
    )
    session.commit()  # the jobs run now (enrollment in the edX emulator, the bulk assignment)

    acme = one(select(Organization).where(Organization.key == "ACME"))
    public_run = one(
        select(CourseRun).where(
            CourseRun.contract_id.is_(None), ~CourseRun.hidden, ~CourseRun.is_source_run
        )
    )
    program_link = one(select(ContractProgram))
    program = program_link.program
    return {
        "org_key": acme.key,
        "org_id": acme.id,
        "user_id": grace.id,
        "job_id": bulk.id,
        "contract_id": leadership.id,
        "code_id": one(
            select(EnrollmentCode.id).where(
                EnrollmentCode.contract_id == leadership.id,
                EnrollmentCode.assigned_email.is_not(None),
            )
        ),
        "seat_id": one(select(Seat.id).where(Seat.contract_id == leadership.id)),
        "run_id": contract_run(leadership.id).id,
        "program_id": program.id,
        "program_key": program.key,
        "course_id": public_run.course_id,
        "course_key": public_run.course.key,
        "run_key": public_run.course_key,
        "reference": order.reference,
        "message_id": one(select(OutboxMessage.id).where(OutboxMessage.id == message.id)),
        "token_id": one(select(ApiToken.id).where(ApiToken.id == token.id)),
        # Only Acme's data academy has a program to remove.
        "by_endpoint": {"staff.contract_remove_program": {"contract_id": program_link.contract_id}},
    }


# ----------------------------------------------------------------------------- the checks

# The layout check, in the page: the page's own sideways scroll, and the innermost elements whose
# box or text reaches past the window's right edge with no ancestor scrolling sideways. Elements wholly left of
# the window are the off-screen technique (the skip link until focused), not cut-off content.
LAYOUT_CHECK = """() => {
  const width = window.innerWidth;
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) return s + '#' + el.id;
    const cls = [...el.classList].slice(0, 3);
    if (cls.length) s += '.' + cls.join('.');
    return s;
  };
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      parts.unshift(name(e));
    }
    return parts.join(' > ');
  };
  const scrollsSideways = (el) => {
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const x = getComputedStyle(a).overflowX;
      if (x === 'auto' || x === 'scroll') return true;
    }
    return false;
  };
  // The box, or its text when that spills out of a box that does not clip it.
  const right = (el, box) => el instanceof HTMLElement && getComputedStyle(el).overflowX === 'visible'
    ? Math.max(box.right, box.left + el.scrollWidth) : box.right;
  const cut = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= 0) continue;
    const edge = right(el, box);
    if (edge > width + 0.5 && !scrollsSideways(el)) cut.push([el, edge]);
  }
  const innermost = cut.filter(([el]) => !cut.some(([other]) => other !== el && el.contains(other)));
  return {
    scrollWidth: document.scrollingElement.scrollWidth,
    width: width,
    cut: innermost.slice(0, 5).map(([el, edge]) => path(el) + ' (to ' + Math.round(edge) + ' px)'),
  };
}"""

NEXT_FRAMES = (
    "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
)
AXE_RUN = """(tags) => axe.run(document, {
  runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'],
}).then((result) => result.violations.map((v) => ({
  id: v.id, impact: v.impact, help: v.help,
  targets: v.nodes.slice(0, 4).map((n) => n.target.join(' ')),
})))"""


@dataclasses.dataclass
class PageChecker:
    """Checks pages in one tab and keeps every problem found, as lines naming page and width."""

    journey: Journey
    role: str
    problems: list[str] = dataclasses.field(default_factory=list)

    def visit(self, name: str, url: str, status: int = 200) -> None:
        response = self.journey.page.goto(url)
        assert response is not None, url
        if status != 200:
            self.journey.refused(response, status)
        if response.status != status:
            self.problems.append(f"{name} {url}: answered {response.status}, not {status}")
            return
        self.check(name)

    def check(self, name: str) -> None:
        """Both widths, on the page as it is: resized, not reloaded (a form's answer stays)."""
        page = self.journey.page
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": HEIGHTS[width]})
            page.evaluate(NEXT_FRAMES)  # the page's resize handlers have run
            where = f"{self.role} {name} ({page.url.removeprefix(self.journey.world.portal_url)})"
            where += f" at {width} px"
            layout = page.evaluate(LAYOUT_CHECK)
            if layout["scrollWidth"] > layout["width"]:
                self.problems.append(
                    f"{where}: horizontal-overflow: the page is {layout['scrollWidth']} px wide"
                )
            for element in layout["cut"]:
                self.problems.append(f"{where}: cut-off: {element}")
            if not page.evaluate("() => typeof axe === 'object'"):
                page.evaluate(AXE.read_text())
            for rule in page.evaluate(AXE_RUN, AXE_TAGS):
                self.problems.append(
                    f"{where}: axe {rule['id']} ({rule['impact']}: {rule['help']}): "
                    + ", ".join(rule["targets"])
                )
            PAGES.mkdir(parents=True, exist_ok=True)
            path = PAGES / f"{self.role}-{name}-{width}{self.language_suffix}.png"
            page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHTS[WIDTHS[0]]})

    @property
    def language_suffix(self) -> str:
        """Nothing in English (the names the screenshots always had), "-fr" in French."""
        locale = self.journey.locale
        return "" if locale == DEFAULT_LOCALE else f"-{locale}"

    def assert_clean(self) -> None:
        assert self.problems == [], f"{len(self.problems)} problems:\n" + "\n".join(self.problems)


@pytest.fixture
def axe_installed() -> None:
    """Not a skip: a suite that did not look must not pass."""
    assert AXE.exists(), AXE_MISSING


def sign_in(journey: Journey, role: str) -> None:
    if role != "anonymous":
        email, name, via_idp = SIGN_IN[role]
        journey.sign_in(email, name, via_idp=via_idp)


# ----------------------------------------------------------------------------- the tests


def test_every_get_endpoint_is_a_checked_page_or_excused(world: World) -> None:
    endpoints = get_endpoints(world.app)
    unplaced = [e for e in endpoints if is_page(e) and e.split(".")[0] not in ROLE_OF_BLUEPRINT]
    assert unplaced == [], "GET endpoints of no role: add their blueprint to ROLE_OF_BLUEPRINT"
    assert set(NOT_PAGES) - set(endpoints) == set(), "NOT_PAGES names endpoints that are gone"
    values = demo_values(world)
    missing = {
        f"{endpoint}: {name}"
        for endpoint, rule in endpoints.items()
        if is_page(endpoint)
        for name in rule.arguments
        if name not in values
    }
    assert missing == set(), "URL arguments demo_values() gives no value for"


@pytest.mark.parametrize("role", ["anonymous", "learner", "org_admin", "staff"])
def test_every_page_fits_a_phone_and_passes_axe(
    journey: Journey, world: World, axe_installed: None, role: str
) -> None:
    pages = PageChecker(journey, role)
    pages_of_role = role_pages(world.app, role, demo_values(world))
    assert len(pages_of_role) >= 5, f"{role} has only {pages_of_role}"
    sign_in(journey, role)
    for endpoint, url in pages_of_role:
        pages.visit(endpoint, url)
    pages.assert_clean()
    journey.finish()


def test_error_pages_flashes_and_form_errors(
    journey: Journey, world: World, axe_installed: None
) -> None:
    """The states a page list does not reach: a flash, a form with errors, 404, 403 and 429
    (the code form's limit, lowered to one a minute as ``test_redemption`` does)."""
    page = journey.page
    pages = PageChecker(journey, "states")
    sign_in(journey, "staff")
    pages.check("flash-signed-in")
    check_menu_button(journey)
    page.goto("/staff/organizations/new")
    page.wait_for_load_state("networkidle")  # a post cancelling the favicon's load leaks a file
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("main form").get_by_role("button").last.click()
    journey.refused(answer.value, 400)
    expect(page.locator(".errors").first).to_be_visible()
    pages.check("form-with-errors")
    journey.sign_out()
    pages.visit("not-found-anonymous", "/no-such-page", 404)
    sign_in(journey, "learner")
    pages.visit("not-found", "/learner/no-such-page", 404)
    pages.visit("forbidden", "/staff/", 403)
    settings = world.app.config["PORTAL"]
    world.app.config["PORTAL"] = dataclasses.replace(settings, redeem_rate_limit="1 per minute")
    for status in (404, 429):  # no such code, then the limit
        page.goto("/learner/redeem")
        page.wait_for_load_state("networkidle")
        page.locator("main form input[name=code]").fill("WRONGCODE1")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.locator("main form").get_by_role("button").last.click()
        journey.refused(answer.value, status)
    pages.check("too-many-attempts")
    pages.assert_clean()
    journey.finish()


def check_menu_button(journey: Journey) -> None:
    """On a phone the header is the brand and a Menu button (static/js/nav.js), which opens and
    closes the menu by keyboard; at 1280 px there is no button and the links show."""
    page = journey.page
    banner = page.get_by_role("banner")
    menu = banner.get_by_role("button", name=tr("Menu"))
    staff_link = banner.get_by_role("link", name=tr("Staff"))
    expect(menu).to_be_hidden()
    expect(staff_link).to_be_visible()
    page.set_viewport_size({"width": 390, "height": HEIGHTS[390]})
    expect(staff_link).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(staff_link).to_be_visible()
    expect(banner.get_by_role("button", name=tr("Sign out"))).to_be_visible()

    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(staff_link).to_be_hidden()
    expect(menu).to_be_focused()
    page.set_viewport_size({"width": 1280, "height": HEIGHTS[1280]})
