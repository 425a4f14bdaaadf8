"""Load the JSON seed (users, course runs and their modes) into a cleared store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import Settings
from .dates import now, parse_datetime
from .keys import parse_course_key
from .models import CourseMode, CourseRun, TeamMember
from .passwords import hash_password
from .store import Store


class SeedError(ValueError):
    """The seed file is unreadable or describes something invalid."""


def _date(value: Any) -> Any:
    return None if value in (None, "") else parse_datetime(value)


def load_seed_file(path: str) -> dict[str, Any]:
    """Parse the seed; an empty path means an empty seed."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SeedError(f"cannot read seed {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SeedError(f"seed {path} must hold a JSON object")
    return data


def apply_seed(store: Store, seed: dict[str, Any], settings: Settings) -> None:
    """Replace the state with the seed's, plus the global-staff service user."""
    with store.atomic():
        store.clear_state()
        store.create_user(
            settings.service_username,
            settings.service_email,
            name="B2B portal service user",
            is_staff=True,
        )
        for entry in seed.get("users", []):
            store.create_user(
                entry["username"],
                entry["email"],
                name=entry.get("name", ""),
                password_hash=hash_password(entry["password"]) if entry.get("password") else "",
                is_staff=bool(entry.get("is_staff", False)),
            )
        for entry in seed.get("course_runs", []):
            _seed_run(store, entry)


def _seed_run(store: Store, entry: dict[str, Any]) -> None:
    key = entry.get("id", "")
    if parse_course_key(key) is None:
        raise SeedError(f"invalid course key in seed: {key!r}")
    schedule = entry.get("schedule", {})
    created = now()
    store.save_run(
        CourseRun(
            key=key,
            title=entry.get("title", key),
            start=_date(schedule.get("start")),
            end=_date(schedule.get("end")),
            enrollment_start=_date(schedule.get("enrollment_start")),
            enrollment_end=_date(schedule.get("enrollment_end")),
            self_paced=entry.get("pacing_type") == "self_paced",
            team=[TeamMember(m["user"], m["role"]) for m in entry.get("team", [])],
            created=created,
            overview_at=created,
            invite_only=bool(entry.get("invite_only", False)),
        )
    )
    for mode in entry.get("modes", []):
        expiration = _date(mode.get("expiration_datetime"))
        store.save_mode(
            CourseMode(
                id=0,
                course_key=key,
                mode_slug=mode["mode_slug"],
                mode_display_name=mode.get("mode_display_name", mode["mode_slug"].title()),
                min_price=int(mode.get("min_price", 0)),
                currency=str(mode.get("currency", "usd")).lower(),
                expiration_datetime=expiration,
                expiration_datetime_is_explicit=expiration is not None,
                description=mode.get("description"),
                sku=mode.get("sku"),
                bulk_sku=mode.get("bulk_sku"),
            )
        )
