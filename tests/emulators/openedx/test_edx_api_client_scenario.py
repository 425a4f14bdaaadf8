"""Acceptance: the PyPI client ``edx-api-client`` 1.14.0 runs the portal's flow against the emulator.

The scenario is a plain script of client calls, exactly as the portal makes them: a JWT for Studio
(``course_runs`` sends ``jwt <token>``) and an opaque Bearer token for the LMS sub-clients.
Nothing here talks to the emulator except through ``edx_api.client.EdxApi`` (and the OAuth2 token
endpoint and learner registration, which the client does not cover).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from edx_api.client import EdxApi

from .conftest import EdxEmulator

SOURCE = ("ACME_SRC", "SCN.101x", "SOURCE")
SOURCE_ID = "course-v1:ACME_SRC+SCN.101x+SOURCE"
CONTRACT_RUN = "course-v1:acme+SCN.101x+1T42C2026"


def test_edx_api_client_scenario(
    edx_server: EdxEmulator,
    edx_register: Callable[..., str],
    edx_learner_token: Callable[[str], str],
) -> None:
    base_url = f"{edx_server.url}/"  # served at the root: the client joins paths with urljoin
    studio = EdxApi({"access_token": edx_server.token("jwt")["access_token"]}, base_url, timeout=10)
    lms = EdxApi({"access_token": edx_server.token()["access_token"]}, base_url, timeout=10)

    # 1. Create a source run in Studio.
    source = studio.course_runs.create_course_run(
        *SOURCE,
        title="Scenario Source",
        pacing_type="self_paced",
        start=datetime(2026, 1, 5, tzinfo=UTC),
        end=datetime(2027, 12, 31, tzinfo=UTC),
    )
    assert source.course_id == SOURCE_ID
    assert source.start == datetime(2026, 1, 5, tzinfo=UTC)
    assert source.card_image.startswith(edx_server.url)

    # 2. Clone it into the contract run's key (another org).
    cloned = studio.course_runs.clone_course_run(SOURCE_ID, CONTRACT_RUN)
    assert cloned.status_code == 201

    # 3. Get the clone: readable at once, with the source's title, pacing and dates.
    clone = studio.course_runs.get_course_run(CONTRACT_RUN)
    assert (clone.course_id, clone.org, clone.run) == (CONTRACT_RUN, "acme", "1T42C2026")
    assert (clone.title, clone.pacing_type) == ("Scenario Source", "self_paced")
    assert clone.end == datetime(2027, 12, 31, tzinfo=UTC)

    # 4. Update the clone (the client sends PUT /api/v1/course_runs//{id}/).
    updated = studio.course_runs.update_course_run(
        CONTRACT_RUN,
        title="Acme: Scenario",
        pacing_type="self_paced",
        start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 12, 31, tzinfo=UTC),
        enrollment_start=datetime(2026, 2, 1, tzinfo=UTC),
        enrollment_end=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert updated.title == "Acme: Scenario"
    assert updated.enrollment_end == datetime(2026, 12, 1, tzinfo=UTC)
    assert studio.course_runs.get_course_run(CONTRACT_RUN).title == "Acme: Scenario"
    listed_ids = {run.course_id for run in studio.course_runs.get_course_runs_list().results}
    assert {SOURCE_ID, CONTRACT_RUN} <= listed_ids

    # 5. Create the course modes (a clone has none; the GET goes through edX's 301).
    assert lms.course_mode.get_course_modes(CONTRACT_RUN) == []
    lms.course_mode.create_course_mode(CONTRACT_RUN, "audit", "Audit", "USD", min_price=0)
    verified = lms.course_mode.create_course_mode(
        CONTRACT_RUN, "verified", "Verified", "USD", min_price=1
    )
    assert (verified.mode_slug, verified.currency, verified.min_price) == ("verified", "usd", 1)
    modes = lms.course_mode.get_course_modes(CONTRACT_RUN)
    assert [mode.mode_slug for mode in modes] == ["audit", "verified"]

    # 6. Enroll a learner (registered first), then enroll again: idempotent.
    learner = edx_register()
    enrollment = lms.enrollments.create_student_enrollment(
        CONTRACT_RUN, mode="verified", username=learner, force_enrollment=True
    )
    assert enrollment.is_active and enrollment.is_verified
    assert enrollment.course_id == CONTRACT_RUN
    assert enrollment.user == learner
    again = lms.enrollments.create_student_enrollment(
        CONTRACT_RUN, mode="verified", username=learner, force_enrollment=True
    )
    assert again.is_active and again.created == enrollment.created

    # 7. List enrollments: the learner's own (a plain array), then the course's (staff, cursor).
    learner_api = EdxApi({"access_token": edx_learner_token(learner)}, base_url, timeout=10)
    mine = learner_api.enrollments.get_student_enrollments()
    assert mine.is_enrolled_in(CONTRACT_RUN)
    assert mine.get_enrollment_for_course(CONTRACT_RUN).mode == "verified"
    listed = list(lms.enrollments.get_enrollments(course_id=CONTRACT_RUN, usernames=[learner]))
    assert [(e.user, e.course_id, e.mode, e.is_active) for e in listed] == [
        (learner, CONTRACT_RUN, "verified", True)
    ]

    # 8. Deactivate the enrollment.
    deactivated = lms.enrollments.deactivate_enrollment(CONTRACT_RUN, username=learner)
    assert deactivated.is_active is False
    assert deactivated.mode == "verified"
    after = list(lms.enrollments.get_enrollments(course_id=CONTRACT_RUN))
    assert [(e.user, e.is_active) for e in after] == [(learner, False)]
    assert not learner_api.enrollments.get_student_enrollments().is_enrolled_in(CONTRACT_RUN)

    # 9. The LMS course API knows the run (health probe and course details).
    detail = lms.course_detail.get_detail(CONTRACT_RUN)
    assert (detail.name, detail.pacing) == ("Acme: Scenario", "self")
    assert CONTRACT_RUN in {
        c.course_id for c in lms.course_list.get_courses(course_keys=[CONTRACT_RUN])
    }
