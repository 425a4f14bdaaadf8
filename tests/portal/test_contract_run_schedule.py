"""The rule a contract run's dates follow (``contract_run_schedule.run_schedule``, b2b-rules 4 and 10)."""

from __future__ import annotations

import datetime as dt

from portal.models import CourseRun
from portal.services.contract_run_schedule import run_schedule

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def run(**dates: dt.datetime | None) -> CourseRun:
    return CourseRun(course_key="course-v1:X+Y+1T1C2026", title="Run", **dates)


def test_dates_come_from_the_contract() -> None:
    s = run_schedule(run(), start_at=NOW - DAY, end_at=NOW + DAY, active=True, now=NOW)
    assert (s.start_at, s.end_at, s.enrollment_start, s.enrollment_end) == (
        NOW - DAY,
        NOW + DAY,
        NOW - DAY,
        NOW + DAY,
    )


def test_without_a_start_the_run_keeps_its_own_and_without_an_end_it_is_open() -> None:
    own = NOW - 10 * DAY
    s = run_schedule(run(start_at=own), start_at=None, end_at=None, active=True, now=NOW)
    assert (s.start_at, s.end_at, s.enrollment_end) == (own, None, None)
    fresh = run_schedule(run(), start_at=None, end_at=None, active=True, now=NOW)
    assert fresh.start_at == NOW


def test_an_ended_contract_closes_enrollment_at_its_end() -> None:
    s = run_schedule(run(), start_at=NOW - 9 * DAY, end_at=NOW - DAY, active=True, now=NOW)
    assert s.enrollment_end == NOW - DAY


def test_an_inactive_contract_closes_enrollment_now_and_keeps_an_earlier_close() -> None:
    s = run_schedule(run(), start_at=NOW - DAY, end_at=NOW + 9 * DAY, active=False, now=NOW)
    assert s.enrollment_end == NOW and s.end_at == NOW + 9 * DAY  # the course keeps its end
    closed = run(enrollment_end=NOW - 2 * DAY)
    again = run_schedule(closed, start_at=NOW - 9 * DAY, end_at=None, active=False, now=NOW)
    assert again.enrollment_end == NOW - 2 * DAY  # the same every time: nothing moves


def test_a_closed_window_never_ends_before_it_opens() -> None:
    s = run_schedule(run(), start_at=NOW + DAY, end_at=NOW + 9 * DAY, active=False, now=NOW)
    assert s.enrollment_start == s.enrollment_end == NOW + DAY


def test_a_removed_run_stays_closed_when_the_contract_is_extended() -> None:
    closed = run(enrollment_end=NOW - DAY)
    s = run_schedule(
        closed, start_at=NOW - 9 * DAY, end_at=NOW + 99 * DAY, active=True, removed=True, now=NOW
    )
    assert s.enrollment_end == NOW - DAY and s.end_at == NOW + 99 * DAY
