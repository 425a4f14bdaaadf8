"""Learning outcomes in a real browser: grades, progress and certificates set in the Open edX
emulator (its ``/__emulator__/grades|progress|certificates`` controls), read back by the real sync
job (``openedx.sync_outcomes``), then shown to an org admin (the overview's completion chart, the
learners table filtered and sorted by outcome), to a learner (status, grade, progress bar and the
link to the certificate the emulator serves) and to staff (each run's sync state).

Every page is photographed at 1280 px and at a phone's width (390 px) in test-artifacts/screenshots,
and what sticks out of the window or hides behind a sideways scroll is printed (run with ``-s``)
for whoever owns the page's layout; layout is reported, not asserted.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Locator, ViewportSize, expect
from sqlalchemy import select

from portal.extensions import db
from portal.integrations.openedx import edx_client
from portal.models import (
    Contract,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    LearningOutcome,
    OutcomeSync,
    OutcomeSyncState,
    Seat,
    User,
)
from portal.services.outcome_sync import request_outcome_sync
from tests.browser.conftest import (
    CHROMIUM,
    SCREENSHOTS,
    SKIP_REASON,
    Journey,
    World,
    fresh,
)
from tests.support.i18n import day, moment, ntr, number, ptr, tr
from tests.support.waiting import wait_for

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

DESKTOP = ViewportSize(width=1280, height=900)  # the journey fixture's window
PHONE = ViewportSize(width=390, height=844)


@dataclass(frozen=True)
class Result:
    """What edX holds for one learner in one course run."""

    percent: float
    passed: bool
    letter: str | None
    progress: float
    certificate_days_ago: int | None = None  # a downloadable certificate issued that long ago


# Six of the colleagues holding seats on Acme Leadership Circle (the demo's seat history; the
# fourth, Dana, had her seat revoked): three passed, two with a certificate, one never started.
LEADERSHIP = {
    "colleague01@acme.example": Result(0.92, True, "A", 1.0, certificate_days_ago=12),  # Anita
    "colleague02@acme.example": Result(0.78, True, "B", 0.9, certificate_days_ago=5),  # Boris
    "colleague03@acme.example": Result(0.55, False, None, 0.6),  # Chen
    "colleague05@acme.example": Result(0.31, False, None, 0.35),  # Emeka
    "colleague06@acme.example": Result(0.0, False, None, 0.0),  # Farah: not started
    "colleague07@acme.example": Result(0.84, True, "B", 0.95),  # Goran: no certificate yet
}


# ----------------------------------------------------------------------------- the world


def contract(slug: str) -> Contract:
    found = fresh().scalar(select(Contract).where(Contract.slug == slug))
    assert found is not None, slug
    return found


def user(email: str) -> User:
    found = fresh().scalar(select(User).where(User.email == email))
    assert found is not None, email
    return found


def only_run(slug: str) -> CourseRun:
    [run] = fresh().scalars(select(CourseRun).where(CourseRun.contract_id == contract(slug).id))
    assert run.edx_state is EdxRunState.READY, (run.course_key, run.edx_state, run.edx_error)
    return run


def run_of(slug: str, title: str) -> CourseRun:
    found = fresh().scalar(
        select(CourseRun).where(
            CourseRun.contract_id == contract(slug).id, CourseRun.title == title
        )
    )
    assert found is not None, (slug, title)
    assert found.edx_state is EdxRunState.READY, (found.course_key, found.edx_state)
    return found


def control(world: World, what: str, body: dict[str, Any]) -> dict[str, Any]:
    """One of the Open edX emulator's test controls (grades, progress, certificates)."""
    answer = requests.post(f"{world.edx_url}/__emulator__/{what}", json=body, timeout=10)
    assert answer.status_code == 201, f"{what}: {answer.status_code} {answer.text}"
    result: dict[str, Any] = answer.json()
    return result


def enroll_in_edx(run: CourseRun, email: str) -> str:
    """The learner's edX account and enrollment, and the portal's record of it (as
    ``portal.demo.outcomes`` does for the demo); returns the edX username."""
    session = fresh()
    learner = user(email)
    client = edx_client()
    if not learner.edx_username:
        learner.edx_username = client.register_user(learner.email, learner.display_name)
    client.enroll(learner.edx_username, run.course_key)
    held = session.scalar(
        select(Seat.id).where(
            Seat.contract_id == run.contract_id,
            Seat.user_id == learner.id,
            Seat.revoked_at.is_(None),
        )
    )
    assert held is not None, f"{email} holds no seat on the run's contract"
    session.add(
        Enrollment(
            user_id=learner.id,
            course_run_id=run.id,
            contract_id=run.contract_id,
            active=True,
            edx_state=EdxSyncState.SYNCED,
        )
    )
    session.commit()
    return str(learner.edx_username)


def set_result(world: World, run: CourseRun, username: str, result: Result) -> str | None:
    """The learner's grade, progress and certificate in edX; returns the certificate's URL."""
    who = {"username": username, "course_id": run.course_key}
    control(
        world,
        "grades",
        {**who, "percent": result.percent, "passed": result.passed, "letter_grade": result.letter},
    )
    control(world, "progress", {**who, "percent": result.progress})
    if result.certificate_days_ago is None:
        return None
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=result.certificate_days_ago)
    made = control(
        world,
        "certificates",
        {
            **who,
            "status": "downloadable",
            "grade": result.percent,
            "certificate_type": "verified",
            "created_date": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    [certificate] = made["certificates"]
    return str(certificate["download_url"])


def sync_outcomes(world: World, run: CourseRun) -> OutcomeSync:
    """Staff's "Sync outcomes now" for ``run``, run by the portal (inline after the commit, a
    retry by the job worker); returns the run's sync row once the job succeeded."""
    with world.job_worker():
        current = db.session.get(CourseRun, run.id)
        assert current is not None
        request_outcome_sync(current)
        db.session.commit()
        return sync_finished(run)


def sync_finished(run: CourseRun) -> OutcomeSync:
    """The run's sync row once its job has finished, checked to have succeeded."""

    def finished() -> OutcomeSync | None:
        row = fresh().get(OutcomeSync, run.id)
        done = (OutcomeSyncState.SUCCEEDED.value, OutcomeSyncState.FAILED.value)
        return row if row is not None and row.state in done else None

    row: OutcomeSync = wait_for(finished, f"the outcome sync of {run.course_key}")
    assert row.state == OutcomeSyncState.SUCCEEDED.value, row.last_error
    return row


def leadership_outcomes(world: World) -> CourseRun:
    """LEADERSHIP's results on Acme Leadership Circle's one run, in edX (not synced yet)."""
    run = only_run("acme-leadership")
    for email, result in LEADERSHIP.items():
        set_result(world, run, enroll_in_edx(run, email), result)
    return run


# ----------------------------------------------------------------------------- the pages


def at_phone_width(journey: Journey, suffix: str, *, section: Locator | None = None) -> Path:
    """A screenshot of the page (or of ``section``) at 390 px, the window back to 1280 px after;
    prints what sticks out of the window (``overflow``)."""
    page = journey.page
    page.set_viewport_size(PHONE)
    try:
        page.wait_for_timeout(100)  # the layout settles
        for line in overflow(journey):
            print(f"[390 px] {journey.name}{suffix}: {line}")
        if section is None:
            return journey.screenshot(suffix)
        return shoot(journey, section, suffix)
    finally:
        page.set_viewport_size(DESKTOP)


def shoot(journey: Journey, section: Locator, suffix: str) -> Path:
    """A screenshot of one element of the page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{journey.name}{suffix}.png"
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(path))
    return path


OVERFLOW_JS = r"""() => {
  const width = document.documentElement.clientWidth;
  // Whether a box that scrolls or clips holds the element: one of its containing blocks (an
  // absolutely positioned element escapes the boxes between it and its positioned ancestor).
  const clipped = (el) => {
    let position = getComputedStyle(el).position;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      const holds = position === 'fixed' ? false
        : position === 'absolute' ? style.position !== 'static' : true;
      if (!holds) continue;
      if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)) return true;
      position = style.position;
    }
    return false;
  };
  const label = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  const out = [];
  if (document.documentElement.scrollWidth > width) {
    out.push(`the page is ${document.documentElement.scrollWidth}px wide in a ${width}px window`);
  }
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 1 && !clipped(el)) {
      out.push(`${label(el)} reaches ${Math.round(box.right)}px: ${(el.innerText || '').trim().slice(0, 60)}`);
    }
  }
  for (const el of document.body.querySelectorAll('*')) {
    const o = getComputedStyle(el).overflowX;
    if ((o === 'auto' || o === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
      out.push(`${label(el)} scrolls sideways: ${el.clientWidth}px of ${el.scrollWidth}px in view`);
    }
  }
  return out.slice(0, 20);
}"""


def overflow(journey: Journey) -> list[str]:
    """What sticks out of the window on the right (not inside a box that scrolls or clips), and
    the boxes whose content is wider than they are (seen only by scrolling sideways)."""
    found: list[str] = journey.page.evaluate(OVERFLOW_JS)
    return found


def at_desktop_width(journey: Journey, suffix: str) -> Path:
    """A screenshot of the whole page at 1280 px; prints what sticks out of the window."""
    for line in overflow(journey):
        print(f"[1280 px] {journey.name}{suffix}: {line}")
    return journey.screenshot(suffix)


def percent(value: int) -> str:
    return tr("%(num)s%%", num=value)


def enrollments(count: int) -> str:
    return ntr("%(num)s enrollment", "%(num)s enrollments", count)


def status(words: str) -> str:
    """An outcome status badge's words ("Passed": one learner's, not the column of counts)."""
    return ptr("outcome status", words)


def sync_counts(counts: dict[str, Any]) -> str:
    """The staff page's line of what a run's outcome sync read (``OutcomeSync.counts``)."""
    progress = counts.get("progress")
    return tr(
        "%(grades)s, %(changed)s changed, %(unknown)s not in the portal, %(progress)s, "
        "%(certificates)s checked",
        grades=ntr("%(num)s grade", "%(num)s grades", counts.get("grades", 0)),
        changed=number(counts.get("updated", 0)),
        unknown=number(counts.get("unknown", 0)),
        progress=tr("no progress offered")
        if progress is None
        else tr("%(num)s progress", num=number(progress)),
        certificates=ntr(
            "%(num)s certificate", "%(num)s certificates", counts.get("certificates_checked", 0)
        ),
    )


def emails_in_order(rows: Locator) -> list[str]:

    return [
        re.search(r"\S+@\S+", text).group(0)  # type: ignore[union-attr]
        for text in rows.locator("td:first-child").all_inner_texts()
    ]


# ----------------------------------------------------------------------------- the journeys


def test_org_admin_reads_the_completion_chart(journey: Journey, world: World) -> None:
    page = journey.page
    leadership = contract("acme-leadership")
    run = leadership_outcomes(world)
    synced = sync_outcomes(world, run)
    assert synced.totals == {
        "learners": 6,
        "started": 5,
        "passed": 3,
        "certificates": 2,
        "progress_sum": 3.8,
    }

    journey.sign_in("admin@acme.example", "Grace Hopper", via_idp=True)
    main_nav = page.get_by_role("navigation", name=tr("Main"))
    main_nav.get_by_role("link", name=tr("My organizations")).click()
    page.get_by_role("link", name="Acme Corporation").click()
    expect(page.get_by_role("heading", name="Acme Corporation", level=1)).to_be_visible()

    # The contract's Learning outcomes: the figures of the sync, and the completion chart.
    usage = page.locator(f'section.contract-usage[data-contract="{leadership.id}"]')
    expect(usage.get_by_role("heading", name=tr("Learning outcomes"))).to_be_visible()
    outcomes = usage.locator(f'[data-outcomes="{leadership.id}"]')
    expect(outcomes.locator("[data-completion-rate]")).to_have_text(percent(50))
    expect(outcomes.locator("[data-passed]")).to_have_text("3")
    expect(outcomes.locator("[data-certificates]")).to_have_text("2")
    expect(outcomes.locator("[data-average-progress]")).to_have_text(percent(63))
    assert synced.last_success_at is not None
    expect(outcomes).to_contain_text(
        ntr(
            "From edX, as of %(day)s UTC: %(enrollments)s, %(started)s started.",
            "From edX, as of %(day)s UTC: %(enrollments)s, %(started)s started.",
            5,
            day=moment(synced.last_success_at, "dd MMM y HH:mm"),
            enrollments=enrollments(6),
            started=number(5),
        )
    )
    chart = outcomes.locator("svg.usage-chart")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("role", "img")
    completed = ntr(
        "%(total)s of %(num)s enrollment completed",
        "%(total)s of %(num)s enrollments completed",
        6,
        total=number(3),
    )
    summary = ntr(
        "%(completed)s; %(recent)s in the last %(num)s day.",
        "%(completed)s; %(recent)s in the last %(num)s days.",
        60,
        completed=completed,
        recent=number(3),
    )
    expect(chart.locator("title").first).to_have_text(summary)
    expect(outcomes.locator("figcaption")).to_have_text(summary)
    expect(chart.locator(".chart-limit-label")).to_have_text(enrollments(6))
    expect(chart.locator("polyline.chart-line")).to_have_count(1)
    bars = chart.locator("rect.chart-bar")
    expect(bars).to_have_count(3)  # the two certificates' days, and today's pass
    for so_far, days_ago in enumerate((12, 5, 0), start=1):
        when = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days_ago)
        bar_title = tr(
            "%(day)s: %(completed)s completed, %(total)s so far",
            day=day(when, "dd MMM"),
            completed=number(1),
            total=number(so_far),
        )
        expect(bars.locator("title", has_text=bar_title)).to_have_count(1)
    # The other contract has not been synced: it says when its outcomes will come.
    academy = contract("acme-data-academy")
    expect(page.locator(f'[data-outcomes="{academy.id}"] [data-outcomes-pending]')).to_be_visible()
    at_desktop_width(journey, "-overview")
    shoot(journey, outcomes, "-outcomes-section")
    at_phone_width(journey, "-overview-390")
    at_phone_width(journey, "-outcomes-section-390", section=outcomes)

    # The contract's learners: the outcome columns.
    usage.get_by_role("link", name=tr("Learners")).click()
    expect(page.get_by_role("heading", name=tr("Learners"), level=1)).to_be_visible()
    table = page.locator("table.learners-table")
    rows = table.locator("tbody tr")
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "19")
    farah = rows.filter(has_text="colleague06@acme.example")
    expect(farah.locator("[data-outcome]")).to_have_text(status("Not started"))
    expect(rows.filter(has_text="colleague08@acme.example").locator("[data-grade]")).to_have_text(
        "—"
    )

    # Filter by Passed (the select and the Show button), then sort by progress (the header).
    page.get_by_label(tr("Outcome")).select_option(label=status("Passed"))
    page.get_by_role("button", name=tr("Show")).click()
    expect(page).to_have_url(re.compile(r"[?&]outcome=passed"))
    expect(page.get_by_label(tr("Outcome"))).to_have_value("passed")
    expect(rows).to_have_count(3)
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "3")
    for row in rows.all():
        expect(row.locator("[data-outcome]")).to_have_text(status("Passed"))

    table.get_by_role("link", name=tr("Progress")).click()
    expect(page).to_have_url(re.compile(r"[?&]sort=-progress"))
    expect(page).to_have_url(re.compile(r"[?&]outcome=passed"))  # the filter is kept
    progress_header = table.locator("th", has_text=tr("Progress"))
    expect(progress_header).to_have_attribute("aria-sort", "descending")
    expect(rows).to_have_count(3)
    assert emails_in_order(rows) == [
        "colleague01@acme.example",  # 100%
        "colleague07@acme.example",  # 95%
        "colleague02@acme.example",  # 90%
    ]
    for email, progress, grade, certificates in [
        ("colleague01@acme.example", 100, percent(92), "1"),
        ("colleague07@acme.example", 95, percent(84), "0"),
        ("colleague02@acme.example", 90, percent(78), "1"),
    ]:
        row = rows.filter(has_text=email)
        expect(row.locator("progress.outcome-progress")).to_have_attribute("value", str(progress))
        expect(row.locator(".progress-cell")).to_contain_text(percent(progress))
        expect(row.locator("[data-grade]")).to_have_text(grade)  # services.outcomes.grade_text
        expect(row.locator("[data-certificates]")).to_have_text(certificates)
        expect(row.locator("a.certificate-link")).to_have_count(int(certificates))
    at_desktop_width(journey, "-learners")
    at_phone_width(journey, "-learners-390")

    # Once more: ascending.
    table.get_by_role("link", name=tr("Progress")).click()
    expect(page).to_have_url(re.compile(r"[?&]sort=progress(&|$)"))
    expect(progress_header).to_have_attribute("aria-sort", "ascending")
    assert emails_in_order(rows) == [
        "colleague02@acme.example",
        "colleague07@acme.example",
        "colleague01@acme.example",
    ]
    journey.finish()


def test_learner_sees_a_certificate_link(journey: Journey, world: World) -> None:
    page = journey.page
    ada = "learner@acme.example"
    run = run_of("acme-data-academy", "Foundations of Data Science")

    # Ada enrolls herself (the portal makes her edX account and enrollment).
    journey.sign_in(ada, "Ada Lovelace", via_idp=True)
    card = page.locator("article.contract", has_text="Acme Data Academy")
    card.locator("li.run", has_text=run.title).get_by_role("button", name=tr("Enroll")).click()
    expect(page.locator(".flash-success")).to_have_text(
        tr(
            "Enrolled in %(courses)s. We are setting it up in edX; it shows as enrolled in a "
            "moment.",
            courses=run.title,
        )
    )
    mine = page.locator("table tbody tr", has_text=run.title)
    expect(mine.locator("[data-outcome]")).to_have_text(status("Not started"))  # nothing synced
    expect(mine.get_by_role("link", name=tr("View certificate"))).to_have_count(0)

    # She passes in edX and gets her certificate; the sync brings them to the portal.
    username = user(ada).edx_username
    assert username, "the enrollment made no edX account"
    url = set_result(world, run, username, Result(0.88, True, "A", 1.0, certificate_days_ago=1))
    assert url is not None and re.fullmatch(r"/certificates/[0-9a-f]{32}", url), url
    sync_outcomes(world, run)
    recorded = fresh().scalar(
        select(LearningOutcome).where(
            LearningOutcome.course_run_id == run.id, LearningOutcome.user_id == user(ada).id
        )
    )
    assert recorded is not None and recorded.has_certificate
    assert recorded.certificate_url == f"{world.edx_url}{url}"

    # My learning: the badge, the progress bar, the grade and the certificate link.
    main_nav = page.get_by_role("navigation", name=tr("Main"))
    main_nav.get_by_role("link", name=tr("My learning")).click()
    expect(page.get_by_role("heading", name=tr("My learning"))).to_be_visible()
    line = mine.locator("[data-outcome-line]")
    expect(line.locator("[data-outcome]")).to_have_text(status("Passed"))
    expect(line.locator("[data-outcome]")).to_have_class(re.compile(r"outcome-passed"))
    expect(line).to_contain_text(tr("Grade %(grade)s, passed", grade="88% (A)"))
    bar = line.locator("progress.outcome-progress")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("value", "100")
    expect(line.locator(".progress-cell")).to_contain_text(percent(100))
    link = line.get_by_role("link", name=tr("View certificate"))
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", f"{world.edx_url}{url}")
    at_desktop_width(journey, "-dashboard")
    at_phone_width(journey, "-dashboard-390")
    at_phone_width(journey, "-enrollment-390", section=mine)

    # The certificate: the emulator's web certificate page, opened beside the portal (a new tab);
    # followed here in the same tab so the journey's checks and screenshots see it. The
    # emulator's page is in English whatever the portal's language.
    expect(link).to_have_attribute("target", "_blank")
    page.goto(link.get_attribute("href") or "")
    expect(page).to_have_url(f"{world.edx_url}{url}")
    expect(page.get_by_role("heading", name="Certificate of achievement")).to_be_visible()
    expect(page.locator("body")).to_contain_text(f"Ada Lovelace successfully completed {run.title}")
    expect(page.locator("dd", has_text=run.course_key)).to_be_visible()
    expect(page.locator("dd", has_text="0.88")).to_be_visible()
    at_phone_width(journey, "-certificate-390")
    journey.finish()


def test_staff_see_each_runs_outcome_sync(journey: Journey, world: World) -> None:
    page = journey.page
    leadership = contract("acme-leadership")
    run = leadership_outcomes(world)

    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.goto(f"/staff/contracts/{leadership.id}")
    section = page.locator("section#outcomes")
    expect(section.get_by_role("heading", name=tr("Learning outcomes"))).to_be_visible()
    row = section.locator(f'tr[data-outcome-sync="{run.id}"]')
    expect(row.locator("[data-sync-state]")).to_have_text(tr("never"))
    expect(section.locator("[data-outcomes-pending]")).to_be_visible()

    # Sync outcomes now: the job runs after the request's commit (a retry in the worker).
    with world.job_worker():
        row.get_by_role("button", name=tr("Sync outcomes now")).click()
        expect(page.locator(".flash-success")).to_be_visible()
        synced = sync_finished(run)
        expect(page.locator(".flash-success")).to_have_text(
            tr(
                "Syncing grades, progress and certificates of %(key)s from edX (job %(job)s).",
                key=run.course_key,
                job=synced.job_id,
            )
        )
    page.reload()
    expect(row.locator("[data-sync-state]")).to_have_text(tr("succeeded"))
    expect(row.locator("[data-sync-counts]")).to_have_text(sync_counts(synced.counts))
    assert synced.counts["grades"] == 6 and synced.counts["unknown"] == 0, synced.counts
    assert synced.counts["progress"] == 6, synced.counts
    assert synced.counts["certificates_checked"] == 3, synced.counts
    expect(row.get_by_role("button", name=tr("Sync outcomes now"))).to_be_enabled()
    expect(section.locator("[data-completion-rate]")).to_have_text(percent(50))
    expect(section.locator("[data-passed]")).to_have_text("3")
    expect(section.locator("[data-certificates]")).to_have_text("2")
    expect(section.locator("[data-average-progress]")).to_have_text(percent(63))

    for line in overflow(journey):
        print(f"[1280 px] {journey.name}: {line}")
    shoot(journey, section, "-outcomes-section")
    at_phone_width(journey, "-outcomes-section-390", section=section)
    at_phone_width(journey, "-390")
    journey.finish()
