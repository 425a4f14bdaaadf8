"""Learners in a real browser: sign in through the Keycloak emulator, redeem a code, enroll (the
enrollment job reaching the Open edX emulator), with SSO on an auto contract, and on a managed
contract that needs the organization's own sign-in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import (
    AuditEvent,
    CodeRedemption,
    Contract,
    CourseRun,
    EdxSyncState,
    Enrollment,
    EnrollmentCode,
    Membership,
    MembershipSource,
    Organization,
    Seat,
    SeatSource,
    User,
)
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh, unused_code
from tests.support.i18n import text_of, tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)


def user(email: str) -> User:
    found = fresh().scalar(select(User).where(User.email == email))
    assert found is not None, email
    return found


def contract(slug: str) -> Contract:
    found = fresh().scalar(select(Contract).where(Contract.slug == slug))
    assert found is not None, slug
    return found


def seat(contract_slug: str, email: str) -> Seat | None:
    return fresh().scalar(
        select(Seat).where(
            Seat.contract_id == contract(contract_slug).id,
            Seat.user_id == user(email).id,
            Seat.revoked_at.is_(None),
        )
    )


def enrollments(email: str) -> list[Enrollment]:
    return list(
        fresh().scalars(
            select(Enrollment).where(Enrollment.user_id == user(email).id).order_by(Enrollment.id)
        )
    )


def edx_enrollments(world: World, email: str) -> set[str]:
    """The runs edX has ``email``'s learner actively enrolled in."""
    username = user(email).edx_username
    assert username, f"{email} has no edX account"
    return {
        e["course_id"]
        for e in world.edx_state()["enrollments"]
        if e["user"] == username and e["is_active"]
    }


def dashed(code: str) -> str:
    """A code the way people pass it on: lower case, in dash-separated groups of four."""
    low = code.lower()
    return "-".join(low[i : i + 4] for i in range(0, len(low), 4))


def accepted(contract: str, organization: str) -> str:
    return tr(
        "Code accepted: you now have access to %(contract)s from %(organization)s. "
        "Its courses are below.",
        contract=contract,
        organization=organization,
    )


def enrolled_in(*titles: str) -> str:
    """The flash of an enrollment, its courses in the order they were enrolled."""
    return tr(
        "Enrolled in %(courses)s. We are setting it up in edX; it shows as enrolled in a moment.",
        courses=", ".join(titles),
    )


def redeem(journey: Journey, code: str) -> None:
    """From My learning, through the Enter a code page, the code submitted."""
    page = journey.page
    page.get_by_role("link", name=tr("Enter a code"), exact=True).click()
    page.get_by_label(tr("Code")).fill(code)
    page.get_by_role("button", name=tr("Redeem code")).click()


def test_learner_signs_in_redeems_a_code_and_enrolls(journey: Journey, world: World) -> None:
    page = journey.page
    code = unused_code("globex-open-seats")

    journey.sign_in("learner@globex.example", "Alan Turing")
    expect(page.get_by_role("heading", name=tr("My learning"))).to_be_visible()
    no_organization = text_of(
        tr(
            "You don't belong to any organization yet. Sign in with your organization's "
            'account or <a href="%(url)s">enter a code</a>.',
            url="/learner/redeem",
        )
    )
    expect(page.get_by_text(no_organization)).to_be_visible()

    page.get_by_role("link", name=tr("Enter a code"), exact=True).click()
    expect(page.get_by_role("heading", name=tr("Enter a code"))).to_be_visible()
    page.get_by_label(tr("Code")).fill(dashed(code))
    page.get_by_role("button", name=tr("Redeem code")).click()

    expect(page.locator(".flash-success")).to_have_text(
        accepted("Globex Open Seats", "Globex University")
    )
    expect(page.locator(".orgs")).to_contain_text(f"Globex University {tr('(joined with a code)')}")
    card = page.locator("article.contract", has_text="Globex Open Seats")
    expect(card).to_contain_text("Welcome to Globex Open Seats!")  # the contract's own words
    expect(card.locator("li.run")).to_have_count(2)  # Foundations of Data Science, Python
    run_row = card.locator("li.run", has_text="Foundations of Data Science")
    run_row.get_by_role("button", name=tr("Enroll")).click()

    expect(page.locator(".flash-success")).to_have_text(enrolled_in("Foundations of Data Science"))
    expect(run_row.locator(".badge")).to_have_text(tr("Enrolled"))
    mine = page.locator("table tbody tr", has_text="Foundations of Data Science")
    expect(mine.locator(".badge")).to_have_text(tr("Enrolled"))
    run = fresh().scalar(
        select(CourseRun).where(
            CourseRun.contract_id == contract("globex-open-seats").id,
            CourseRun.title == "Foundations of Data Science",
        )
    )
    assert run is not None
    expect(mine.get_by_role("link", name=tr("Go to course"))).to_have_attribute(
        "href", f"{world.edx_url}/courses/{run.course_key}/course/"
    )
    journey.finish()

    # The database: the seat from the code, the code used once, membership kept until seen, and
    # the enrollment synced with edX (which has it too).
    held = seat("globex-open-seats", "learner@globex.example")
    assert held is not None and held.source is SeatSource.CODE
    used = fresh().scalar(select(EnrollmentCode).where(EnrollmentCode.code == code))
    assert used is not None and used.times_redeemed == 1
    redemption = fresh().scalar(select(CodeRedemption).where(CodeRedemption.code_id == used.id))
    assert redemption is not None and redemption.user_id == user("learner@globex.example").id
    membership = fresh().scalar(
        select(Membership)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(
            Membership.user_id == user("learner@globex.example").id, Organization.key == "GLOBEX"
        )
    )
    assert membership is not None and membership.keep_until_seen
    assert membership.source is MembershipSource.CODE
    [enrollment] = enrollments("learner@globex.example")
    assert enrollment.course_run_id == run.id and enrollment.active
    assert enrollment.edx_state is EdxSyncState.SYNCED, enrollment.edx_error
    assert edx_enrollments(world, "learner@globex.example") == {run.course_key}


def test_sso_learner_enrolls_in_the_auto_contract(journey: Journey, world: World) -> None:
    page = journey.page

    journey.sign_in("learner@acme.example", "Ada Lovelace", via_idp=True)
    orgs = page.locator(".orgs")
    expect(orgs).to_contain_text("Acme Corporation")
    expect(orgs).not_to_contain_text(tr("(joined with a code)"))
    card = page.locator("article.contract", has_text="Acme Data Academy")
    expect(card).to_contain_text("Welcome to Acme Data Academy!")  # the contract's own words
    expect(card.locator("li.run")).to_have_count(3)
    # The managed contract needs a code as well as the sign-in: not offered yet.
    expect(page.locator("article.contract", has_text="Acme Leadership Circle")).to_have_count(0)

    card.get_by_role("button", name=tr("Enroll in the whole program")).click()

    titles = ("Foundations of Data Science", "Python for Analysts", "Data Ethics")
    expect(page.locator(".flash-success")).to_have_text(enrolled_in(*titles))
    for title in titles:
        expect(card.locator("li.run", has_text=title).locator(".badge")).to_have_text(
            tr("Enrolled")
        )
        mine = page.locator("table tbody tr", has_text=title)
        expect(mine.locator(".badge")).to_have_text(tr("Enrolled"))
        expect(mine.get_by_role("link", name=tr("Go to course"))).to_be_visible()
    # Every course of the program is enrolled: the button gives way to what is so.
    expect(card.get_by_role("button", name=tr("Enroll in the whole program"))).to_have_count(0)
    expect(card.locator("[data-program-done]")).to_contain_text(tr("Enrolled in every course"))
    # Unenrolling asks first: the button is behind "Unenroll…" (a <details>, no script).
    first = page.locator("table tbody tr", has_text="Data Ethics")
    confirm = first.get_by_role("button", name=tr("Yes, unenroll"))
    expect(confirm).to_be_hidden()
    first.get_by_text(tr("Unenroll…")).click()
    expect(confirm).to_be_visible()
    expect(first).to_contain_text(
        text_of(
            tr(
                "Unenroll from <strong>%(title)s</strong>? You lose access to the course in "
                "edX until you enroll again.",
                title="Data Ethics",
            )
        )
    )
    journey.finish()

    ada = "learner@acme.example"
    membership = fresh().scalar(select(Membership).where(Membership.user_id == user(ada).id))
    assert membership is not None and not membership.keep_until_seen
    assert membership.source is MembershipSource.SSO
    held = seat("acme-data-academy", ada)
    assert held is not None and held.source is SeatSource.AUTO
    made = enrollments(ada)
    assert len(made) == 3
    assert all(e.active and e.edx_state is EdxSyncState.SYNCED for e in made), [
        (e.edx_state, e.edx_error) for e in made
    ]
    assert {e.contract_id for e in made} == {contract("acme-data-academy").id}
    assert edx_enrollments(world, ada) == {e.course_run.course_key for e in made}


def test_managed_contract_refuses_without_sso_and_accepts_with_it(
    journey: Journey, world: World
) -> None:
    page = journey.page
    code = unused_code("acme-leadership")

    # Alan signs in with a password, not through Acme's identity provider.
    journey.sign_in("learner@globex.example", "Alan Turing")
    page.get_by_role("link", name=tr("Enter a code"), exact=True).click()
    page.get_by_label(tr("Code")).fill(code)
    with page.expect_response(f"{world.portal_url}/learner/redeem") as answer:
        page.get_by_role("button", name=tr("Redeem code")).click()

    journey.refused(answer.value, 403)
    expect(page.get_by_role("alert")).to_have_text(
        tr(
            "%(contract)s is for %(organization)s members who sign in with %(organization)s's "
            "own account. Sign out, then sign in through %(organization)s's single sign-on (not "
            "with a password) and enter the code again.",
            contract="Acme Leadership Circle",
            organization="Acme Corporation",
        )
    )
    expect(page.get_by_label(tr("Code"))).to_have_value(code)
    journey.screenshot("-refused")
    journey.sign_out()

    # Ada signs in through Acme's identity provider: the same code works.
    journey.sign_in("learner@acme.example", "Ada Lovelace", via_idp=True)
    redeem(journey, code)
    expect(page.locator(".flash-success")).to_have_text(
        accepted("Acme Leadership Circle", "Acme Corporation")
    )
    card = page.locator("article.contract", has_text="Acme Leadership Circle")
    run_row = card.locator("li.run", has_text="Leading Teams")
    run_row.get_by_role("button", name=tr("Enroll")).click()
    expect(page.locator(".flash-success")).to_have_text(enrolled_in("Leading Teams"))
    expect(run_row.locator(".badge")).to_have_text(tr("Enrolled"))
    expect(page.locator("table tbody tr", has_text="Leading Teams").locator(".badge")).to_have_text(
        tr("Enrolled")
    )
    journey.finish()

    alan, ada = "learner@globex.example", "learner@acme.example"
    assert seat("acme-leadership", alan) is None
    refused = fresh().scalar(
        select(AuditEvent).where(
            AuditEvent.action == "code.refused", AuditEvent.object_id == str(user(alan).id)
        )
    )
    assert refused is not None and refused.after == {"reason": "managed_needs_sso"}
    acme_member = fresh().scalar(
        select(Membership)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.user_id == user(alan).id, Organization.key == "ACME")
    )
    assert acme_member is None
    held = seat("acme-leadership", ada)
    assert held is not None and held.source is SeatSource.CODE
    used = fresh().scalar(select(EnrollmentCode).where(EnrollmentCode.code == code))
    assert used is not None and used.times_redeemed == 1
    [enrollment] = enrollments(ada)
    assert enrollment.contract_id == contract("acme-leadership").id
    assert enrollment.active and enrollment.edx_state is EdxSyncState.SYNCED
    assert edx_enrollments(world, ada) == {enrollment.course_run.course_key}


def test_the_redeem_confirmation_is_in_view(journey: Journey, world: World) -> None:
    page = journey.page
    code = unused_code("acme-leadership")
    # Ada already has Acme Data Academy (auto): the new contract's card comes second.
    journey.sign_in("learner@acme.example", "Ada Lovelace", via_idp=True)
    redeem(journey, code)
    expect(page.locator("article.contract", has_text="Acme Leadership Circle")).to_be_visible()
    journey.screenshot(full_page=False)  # what the learner sees
    expect(page.locator(".flash-success")).to_have_text(
        accepted("Acme Leadership Circle", "Acme Corporation")
    )

    # The page has loaded and scrolled already: the message is in view now or never.
    expect(page.locator(".flash-success")).to_be_in_viewport(timeout=2_000)
