"""Studio course-run input validation (DRF serializer messages) and the CourseRun representation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import request

from .dates import format_datetime, parse_datetime
from .errors import FIELD_REQUIRED, ApiError, type_name
from .models import CourseRun, TeamMember
from .store import Store

INVALID_KEY = "Invalid key supplied. Ensure there are no special characters in the Course Number."
_UNSET = object()


@dataclass
class RunFields:
    """Validated, optional inputs of a create/update/rerun body."""

    title: str | None = None
    self_paced: bool | None = None
    schedule: dict[str, datetime | None] | None = None
    team: list[TeamMember] | None = None
    strings: dict[str, str] = field(default_factory=dict)


def char_field(value: Any, errors: dict[str, Any], name: str) -> str | None:
    """DRF ``CharField``: strings and numbers, trimmed, not blank, not null."""
    if value is None:
        errors[name] = ["This field may not be null."]
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors[name] = ["Not a valid string."]
        return None
    text = str(value).strip()
    if not text:
        errors[name] = ["This field may not be blank."]
        return None
    return text


def _schedule(value: Any, errors: dict[str, Any]) -> dict[str, datetime | None] | None:
    if value is None:
        errors["schedule"] = ["This field may not be null."]
        return None
    if not isinstance(value, dict):
        errors["schedule"] = {
            "non_field_errors": [
                f"Invalid data. Expected a dictionary, but got {type_name(value)}."
            ]
        }
        return None
    nested: dict[str, list[str]] = {}
    result: dict[str, datetime | None] = {}
    for name in ("start", "end", "enrollment_start", "enrollment_end"):
        raw = value.get(name, _UNSET)
        optional = name.startswith("enrollment_")
        if raw is _UNSET:
            if not optional:
                nested[name] = [FIELD_REQUIRED]
            continue
        if raw is None:
            if optional:
                result[name] = None
            else:
                nested[name] = ["This field may not be null."]
            continue
        try:
            result[name] = parse_datetime(raw)
        except ValueError as exc:
            nested[name] = [str(exc)]
    if nested:
        errors["schedule"] = nested
        return None
    return result


def _team(value: Any, errors: dict[str, Any], store: Store) -> list[TeamMember] | None:
    if not isinstance(value, list):
        errors["team"] = [f'Expected a list of items but got type "{type_name(value)}".']
        return None
    members: list[TeamMember] = []
    item_errors: list[dict[str, list[str]]] = []
    for item in value:
        problems: dict[str, list[str]] = {}
        if not isinstance(item, dict):
            problems["non_field_errors"] = [
                f"Invalid data. Expected a dictionary, but got {type_name(item)}."
            ]
        else:
            for name in ("user", "role"):
                if not isinstance(item.get(name), str) or not item[name].strip():
                    problems[name] = [FIELD_REQUIRED]
        item_errors.append(problems)
        if not problems and store.get_user(item["user"]) is None:
            errors["team"] = ["Course team user does not exist"]
            return None
        if not problems:
            user = store.get_user(item["user"])
            assert user is not None
            members.append(TeamMember(user.username, item["role"].strip()))
    if any(item_errors):
        errors["team"] = item_errors
        return None
    return members


def validate_run_fields(
    data: dict[str, Any],
    store: Store,
    *,
    require_title: bool,
    strings: tuple[str, ...] = (),
    optional_strings: tuple[str, ...] = (),
) -> RunFields:
    """Check a body the way the course-run serializers do; raise one 400 with every field error."""
    errors: dict[str, Any] = {}
    fields = RunFields()
    for name in strings + optional_strings:
        if name in data:
            text = char_field(data[name], errors, name)
            if text is not None:
                fields.strings[name] = text
        elif name in strings:
            errors[name] = [FIELD_REQUIRED]
    if "title" in data:
        fields.title = char_field(data["title"], errors, "title")
    elif require_title:
        errors["title"] = [FIELD_REQUIRED]
    if "pacing_type" in data:
        # edX: anything other than "self_paced" means instructor-paced.
        fields.self_paced = data["pacing_type"] == "self_paced"
    if "schedule" in data:
        fields.schedule = _schedule(data["schedule"], errors)
    if "team" in data:
        fields.team = _team(data["team"], errors, store)
    if errors:
        raise ApiError(400, errors)
    return fields


def apply_fields(run: CourseRun, fields: RunFields) -> None:
    """Copy title, pacing and schedule onto ``run`` (enrollment dates only when sent)."""
    if fields.title is not None:
        run.title = fields.title
    if fields.self_paced is not None:
        run.self_paced = fields.self_paced
    if fields.schedule is not None:
        run.start = fields.schedule["start"]
        run.end = fields.schedule["end"]
        if "enrollment_start" in fields.schedule:
            run.enrollment_start = fields.schedule["enrollment_start"]
        if "enrollment_end" in fields.schedule:
            run.enrollment_end = fields.schedule["enrollment_end"]


def merge_team(existing: list[TeamMember], added: list[TeamMember]) -> list[TeamMember]:
    """``get_or_create`` each member: no duplicate (user, role) pairs."""
    result = list(existing)
    for member in added:
        if all((m.user, m.role) != (member.user, member.role) for m in result):
            result.append(member)
    return result


def run_representation(run: CourseRun) -> dict[str, Any]:
    """The CourseRun body of §4.2, plus ``org``, ``number`` and ``run``."""
    key = run.course_key
    image = (
        f"{request.host_url}asset-v1:{key.org}+{key.number}+{key.run}"
        "+type@asset+block@images_course_image.jpg"
    )
    return {
        "id": run.key,
        "title": run.title,
        "schedule": {
            "start": format_datetime(run.start),
            "end": format_datetime(run.end),
            "enrollment_start": format_datetime(run.enrollment_start),
            "enrollment_end": format_datetime(run.enrollment_end),
        },
        "pacing_type": run.pacing_type,
        "team": [m.as_dict() for m in run.team],
        "images": {"card_image": image},
        "org": key.org,
        "number": key.number,
        "run": key.run,
    }
