"""What learners achieved in an edX course run: grades, certificates and progress (the LMS reads the
outcome sync makes; wire contract in ``emulators/openedx/README.md``, "Grades, certificates and
progress").

* Grades: ``GET /api/grades/v1/courses/{course_id}/`` (edx-platform's ``CourseGradesView``) lists
  every active enrollment in cursor pages (``page_size``, ``next``). edx-api-client's
  ``get_course_current_grades`` follows ``next`` but keeps every page in memory, so this module
  walks the pages itself with the client's requester and parses each entry with edx-api-client's
  ``CurrentGrade``: one page in memory at a time, whatever the course's size.
* Certificates: edx-api-client's ``certificates.get_student_certificate`` per learner (404 = none
  yet): edX lists certificates per learner only, so the sync asks only where one may be new.
* Progress: core edX offers it per learner only (the course home progress API); the course-wide list
  is the openedx-completion-aggregator plugin's ``GET /completion-aggregator/v1/course/{key}/``.
  A 404 there means this edX does not offer it, and the sync goes on without progress.

edX offers no "changed since" filter on any of these, so every sync reads all grade pages; the
portal writes only the rows that changed, and asks for certificates only where one may be new.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin

import requests
from edx_api.client import EdxApi
from edx_api.grades.models import CurrentGrade

from portal.integrations.openedx import OpenEdxClient, OpenEdxError

GRADE_PAGE_SIZE = 500
COMPLETION_PAGE_SIZE = 500


@dataclasses.dataclass(frozen=True)
class Grade:
    username: str
    percent: float
    passed: bool
    letter_grade: str | None


@dataclasses.dataclass(frozen=True)
class Certificate:
    status: str
    certificate_type: str | None
    download_url: str | None
    created: dt.datetime | None


def _key(key: str) -> str:
    return quote(key, safe=":+")


def _get_json(client: OpenEdxClient, url: str, what: str) -> Any:
    def get(api: EdxApi) -> Any:
        with api.get_requester() as session:
            response = session.get(url)
        response.raise_for_status()
        return response.json()

    return client.lms_call(what, get)


def _page(body: Any, what: str) -> tuple[list[Any], str | None]:
    """(results, next URL) of one page: DRF's cursor pages put ``next`` beside ``results`` (the
    grades), the completion aggregator under ``pagination``. A body of neither shape is edX
    misbehaving, reported like a bad gateway (transient)."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise OpenEdxError(f"edX answered {what} with an unexpected body", status=502)
    links = body["pagination"] if isinstance(body.get("pagination"), dict) else body
    following = links.get("next")
    return body["results"], following if isinstance(following, str) and following else None


def _fraction(value: Any) -> float | None:
    """edX's 0..1 fraction, clamped; None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(1.0, max(0.0, float(value)))


def course_grade_pages(
    client: OpenEdxClient, key: str, page_size: int = GRADE_PAGE_SIZE
) -> Iterator[list[Grade]]:
    """Every learner's current grade in the run, one page at a time."""
    url: str | None = urljoin(
        client.lms_url, f"api/grades/v1/courses/{_key(key)}/?page_size={page_size}"
    )
    number = 0
    while url:
        number += 1
        what = f"read grades of {key} (page {number})"
        results, url = _page(_get_json(client, url, what), what)
        grades = []
        for entry in results:
            if not isinstance(entry, dict):
                continue
            grade = CurrentGrade(entry)
            percent = _fraction(grade.percent)
            if not isinstance(grade.username, str) or not grade.username or percent is None:
                continue
            letter = grade.letter_grade
            grades.append(
                Grade(
                    username=grade.username,
                    percent=percent,
                    passed=grade.passed is True,
                    letter_grade=str(letter)[:64] if letter else None,
                )
            )
        yield grades


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def certificates(
    client: OpenEdxClient, key: str, usernames: list[str]
) -> list[tuple[str, Certificate | None]]:
    """Each learner's certificate in the run (None where edX has none: 404), through
    edx-api-client's ``get_student_certificate`` on one kept-alive session for the whole batch;
    any other failure fails the batch (the job retries it)."""

    def read(api: EdxApi) -> list[tuple[str, Certificate | None]]:
        reader = api.certificates  # one requester (one connection) for the batch
        found: list[tuple[str, Certificate | None]] = []
        for username in usernames:
            try:
                cert = reader.get_student_certificate(username, key)
            except requests.HTTPError as exc:
                if exc.response is not None and exc.response.status_code == 404:
                    found.append((username, None))
                    continue
                raise
            found.append((username, _certificate(client, cert.json)))
        return found

    return client.lms_call(f"read {len(usernames)} certificates in {key}", read)


def _certificate(client: OpenEdxClient, body: Any) -> Certificate | None:
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, str) or not status:
        return None
    url = body.get("download_url")
    return Certificate(
        status=status[:32],
        certificate_type=str(body.get("certificate_type") or "")[:32] or None,
        download_url=urljoin(client.lms_url, url)[:1000] if isinstance(url, str) and url else None,
        created=_parse_time(body.get("created_date")),
    )


def course_progress_pages(
    client: OpenEdxClient, key: str, page_size: int = COMPLETION_PAGE_SIZE
) -> Iterator[list[tuple[str, float]]] | None:
    """(username, completion 0..1) of every learner, one page at a time; None when this edX does
    not offer course-wide completion (the aggregator answers 404)."""
    first = urljoin(
        client.lms_url, f"completion-aggregator/v1/course/{_key(key)}/?page_size={page_size}"
    )
    try:
        body = _get_json(client, first, f"read progress of {key} (page 1)")
    except OpenEdxError as exc:
        if exc.status == 404:
            return None
        raise
    return _progress_pages(client, key, body)


def _progress_pages(
    client: OpenEdxClient, key: str, body: Any
) -> Iterator[list[tuple[str, float]]]:
    number = 1
    while True:
        what = f"read progress of {key} (page {number})"
        results, following = _page(body, what)
        rows = []
        for entry in results:
            if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
                continue
            completion = entry.get("completion")
            percent = _fraction(completion.get("percent") if isinstance(completion, dict) else None)
            if percent is not None:
                rows.append((entry["username"], percent))
        yield rows
        if following is None:
            return
        number += 1
        body = _get_json(client, following, f"read progress of {key} (page {number})")
