"""Validation of the outcome controls' items: who and which course, then each kind's fields."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeGuard

from . import outcome_store
from .certificates import MODES, STATUSES
from .dates import format_datetime, parse_datetime
from .store import Store

GRADE_MAX_LENGTH = 5  # GeneratedCertificate.grade is a CharField(max_length=5)


class Invalid(Exception):
    """One item's problem (``index`` in the posted list)."""

    def __init__(self, index: int, error: str) -> None:
        super().__init__(error)
        self.index = index
        self.error = error


@dataclass(frozen=True)
class Resolved:
    """An item whose user, course and enrollment exist."""

    index: int
    username: str
    user_id: int
    course_id: str
    mode: str
    data: dict[str, Any]


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fraction(item: Resolved, name: str) -> float:
    value = item.data.get(name)
    if not _number(value) or not 0 <= value <= 1:
        raise Invalid(item.index, f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def resolve_items(
    store: Store, items: list[Any], allowed: set[str]
) -> tuple[list[Resolved], list[Invalid]]:
    """Check every item's shape, user, course run and enrollment (active or not)."""
    problems: list[Invalid] = []
    shaped: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(Invalid(index, "each item must be a JSON object"))
            continue
        unknown = sorted(set(item) - allowed - {"username", "course_id"})
        if unknown:
            problems.append(Invalid(index, f"unknown field(s): {', '.join(unknown)}"))
            continue
        missing = [f for f in ("username", "course_id") if not isinstance(item.get(f), str)]
        if missing:
            problems.append(Invalid(index, f"{' and '.join(missing)} must be given as strings"))
            continue
        shaped.append((index, item))
    users = outcome_store.users_by_name(store, [item["username"] for _, item in shaped])
    runs: dict[str, bool] = {}
    enrollments: dict[str, dict[int, str]] = {}
    resolved: list[Resolved] = []
    seen: dict[tuple[int, str], int] = {}
    for index, item in shaped:
        username, course_id = item["username"], item["course_id"]
        user = users.get(username.lower())
        if user is None:
            problems.append(Invalid(index, f"unknown user {username!r}"))
            continue
        if course_id not in runs:
            runs[course_id] = store.get_run(course_id) is not None
            if runs[course_id]:
                enrollments[course_id] = outcome_store.course_enrollments(store, course_id)
        if not runs[course_id]:
            problems.append(Invalid(index, f"no course run {course_id!r}"))
            continue
        mode = enrollments[course_id].get(user[0])
        if mode is None:
            problems.append(Invalid(index, f"user {user[1]!r} is not enrolled in {course_id!r}"))
            continue
        if (user[0], course_id) in seen:
            first = seen[(user[0], course_id)]
            problems.append(Invalid(index, f"same user and course as item {first}"))
            continue
        seen[(user[0], course_id)] = index
        resolved.append(Resolved(index, user[1], user[0], course_id, mode, item))
    problems.sort(key=lambda p: p.index)
    return resolved, problems


def grade_row(item: Resolved, when: str) -> tuple[Any, ...]:
    """``(user_id, course_key, percent, passed, letter_grade, modified)``.

    edX passes a learner exactly when the percent reaches a grade cutoff, which also gives the
    letter grade: ``passed`` without ``letter_grade`` means "Pass", a letter grade means passed.
    """
    percent = _fraction(item, "percent")
    data = item.data
    passed = data.get("passed")
    if passed is not None and not isinstance(passed, bool):
        raise Invalid(item.index, "passed must be a boolean")
    letter = data.get("letter_grade")
    if letter is not None and (not isinstance(letter, str) or not letter.strip()):
        raise Invalid(item.index, "letter_grade must be a non-empty string or null")
    if passed is None:
        passed = letter is not None
    elif "letter_grade" not in data:
        letter = "Pass" if passed else None
    if passed != (letter is not None):
        raise Invalid(
            item.index,
            "passed and letter_grade disagree: edX gives a letter grade exactly to passing grades",
        )
    return (item.user_id, item.course_id, percent, int(passed), letter, when)


def certificate_row(
    item: Resolved,
    when: str,
    verify_uuid: str,
    created: str | None,
    stored_grade: float | None,
) -> tuple[Any, ...]:
    """``(user_id, course_key, status, grade, mode, verify_uuid, created, modified)``."""
    data = item.data
    status = data.get("status", "downloadable")
    if status not in STATUSES:
        raise Invalid(item.index, f"status must be one of {list(STATUSES)}, got {status!r}")
    mode = data.get("certificate_type", item.mode if item.mode in MODES else "honor")
    if mode not in MODES:
        raise Invalid(item.index, f"certificate_type must be one of {list(MODES)}, got {mode!r}")
    grade = data.get("grade")
    if grade is None:
        grade = "" if stored_grade is None else f"{stored_grade:.2f}"
    elif _number(grade) and 0 <= grade <= 1:
        grade = f"{grade:.2f}"
    elif not isinstance(grade, str) or len(grade) > GRADE_MAX_LENGTH:
        raise Invalid(
            item.index, "grade must be a number from 0 to 1 or a string of at most 5 characters"
        )
    if "created_date" in data:
        try:
            created = format_datetime(parse_datetime(data["created_date"]))
        except ValueError as exc:
            raise Invalid(item.index, f"created_date: {exc}") from exc
    return (item.user_id, item.course_id, status, grade, mode, verify_uuid, created or when, when)


def completion_row(item: Resolved, when: str) -> tuple[Any, ...]:
    """``(user_id, course_key, earned, possible, percent, modified)``; ``percent`` alone counts
    one possible completion (earned = percent)."""
    data = item.data
    has_percent = "percent" in data
    has_counts = "earned" in data or "possible" in data
    if has_percent == has_counts:
        raise Invalid(item.index, "send percent (0..1), or earned and possible, not both")
    if has_percent:
        percent = _fraction(item, "percent")
        return (item.user_id, item.course_id, percent, 1.0, percent, when)
    earned, possible = data.get("earned"), data.get("possible")
    if not _number(possible) or possible <= 0:
        raise Invalid(item.index, f"possible must be a number above 0, got {possible!r}")
    if not _number(earned) or not 0 <= earned <= possible:
        raise Invalid(item.index, f"earned must be a number from 0 to possible, got {earned!r}")
    return (item.user_id, item.course_id, float(earned), float(possible), earned / possible, when)
