"""The audit log as people read it: who did what to which object (named, not "contract 7"), and the
event's before and after as a diff of the fields that changed.

``present_events`` reads the names of everything a page of events mentions (their objects, their
actors, their organizations and the ids inside before/after) in one SELECT per object type
(``object_names``), never one per event.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from portal.core.text import lazy_gettext as _l
from portal.models import AuditEvent
from portal.services.object_names import NamedObject, ObjectNames

# Before/after fields that hold the id of a known object, and the object's type.
ID_FIELDS = {
    "organization_id": "organization",
    "contract_id": "contract",
    "renewed_from_id": "contract",
    "cloned_as": "contract",
    "user_id": "user",
    "created_by_id": "user",
    "assigned_by_id": "user",
    "revoked_by_id": "user",
    "requested_by_id": "user",
    "course_run_id": "course_run",
    "course_id": "course",
    "program_id": "program",
    "order_id": "order",
    "code_id": "enrollment_code",
    "replacement_code_id": "enrollment_code",
    "enrollment_id": "enrollment",
    "job": "background_job",
    "job_id": "background_job",
    "refund_id": "refund",
    "seat_id": "seat",
    "message_id": "outbox_message",
}
ACTOR_KINDS = {"system": _l("System"), "job": _l("Background job"), "cli": _l("Command line")}
VALUE_CHARS = 600  # a longer value is cut (the Raw view has it whole, up to RAW_CHARS)
RAW_CHARS = 4000
_ISO_MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True)
class Shown:
    """One value as the page shows it: text, or the object it is the id of."""

    text: str
    ref: NamedObject | None = None
    empty: bool = False


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    status: str  # changed, added, removed, unchanged, or "value" (recorded without a before)
    before: Shown | None = None
    after: Shown | None = None


@dataclass(frozen=True)
class AuditChange:
    """``diff`` (fields changed, added or removed, and the unchanged ones apart), ``recorded`` (only
    an after: what the event recorded) or ``none``."""

    mode: str
    shown: list[FieldChange] = field(default_factory=list)
    unchanged: list[FieldChange] = field(default_factory=list)
    raw_before: str = ""
    raw_after: str = ""


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor: NamedObject
    object: NamedObject
    organization: NamedObject | None
    change: AuditChange


def present_events(items: Iterable[tuple[AuditEvent, Any]]) -> list[AuditRow]:
    """A page of events (as ``audit_listing.list_audit`` lists them) as rows, with every name read at once."""
    events = [item[0] for item in items]
    names = ObjectNames()
    for event in events:
        names.want(event.object_type, event.object_id)
        names.want("user", event.actor_id)
        names.want("organization", event.organization_id)
        for values in (event.before, event.after):
            for key, value in _fields(values).items():
                if key in ID_FIELDS:
                    names.want(ID_FIELDS[key], value)
    names.load()
    return [_row(event, names) for event in events]


def _row(event: AuditEvent, names: ObjectNames) -> AuditRow:
    obj = names.name(event.object_type, event.object_id)
    org_id = event.organization_id
    own = event.object_type == "organization" and event.object_id == str(org_id)
    org = names.name("organization", org_id) if org_id is not None and not own else None
    return AuditRow(
        event=event,
        actor=actor_of(event, names),
        object=obj,
        organization=org,
        change=diff(event.before, event.after, names),
    )


def actor_of(event: AuditEvent, names: ObjectNames) -> NamedObject:
    if event.actor_id is not None:
        return names.name("user", event.actor_id)
    kind = event.actor_kind or "system"
    return NamedObject("actor", None, str(ACTOR_KINDS.get(kind, kind.capitalize())))


# ----------------------------------------------------------------------------- the diff


def diff(before: Any, after: Any, names: ObjectNames | None = None) -> AuditChange:
    """Before and after as rows of fields: changed, added and removed ones shown, unchanged ones
    apart; with only an after, the values it recorded."""
    names = names or ObjectNames()
    raw_before, raw_after = raw_json(before), raw_json(after)
    old, new = _fields(before), _fields(after)
    if before is None and after is None:
        return AuditChange("none", raw_before=raw_before, raw_after=raw_after)
    if before is None:
        shown = [
            FieldChange(k, label(k), "value", after=_shown(k, v, names)) for k, v in new.items()
        ]
        return AuditChange("recorded", shown, raw_before=raw_before, raw_after=raw_after)
    rows = [_field(key, old, new, names) for key in [*old, *(k for k in new if k not in old)]]
    return AuditChange(
        "diff",
        [row for row in rows if row.status != "unchanged"],
        [row for row in rows if row.status == "unchanged"],
        raw_before=raw_before,
        raw_after=raw_after,
    )


def _field(key: str, old: dict[str, Any], new: dict[str, Any], names: ObjectNames) -> FieldChange:
    if key in old and key in new:
        same = old[key] == new[key] and type(old[key]) is type(new[key])
        if same:
            return FieldChange(key, label(key), "unchanged", after=_shown(key, new[key], names))
        status = "changed"
    else:
        status = "removed" if key in old else "added"
    return FieldChange(
        key,
        label(key),
        status,
        before=_shown(key, old[key], names) if key in old else None,
        after=_shown(key, new[key], names) if key in new else None,
    )


def _fields(values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    if isinstance(values, Mapping):
        return {str(k): v for k, v in values.items()}
    return {"value": values}


def label(key: str) -> str:
    """``seat_limit`` reads "Seat limit"; an id field is named by what it points at."""
    if key in ID_FIELDS and key.endswith("_id"):
        key = key.removesuffix("_id")
    words = key.replace("_", " ").replace(".", " ").strip()
    return (words[:1].upper() + words[1:]) if words else key


def _shown(key: str, value: Any, names: ObjectNames) -> Shown:
    if key in ID_FIELDS and value is not None and not isinstance(value, bool):
        named = names.name(ID_FIELDS[key], value)
        if named.found:
            return Shown(named.label, ref=named)
    return plain(value)


def plain(value: Any) -> Shown:
    """A JSON value as words: none, yes/no, dates in UTC, lists joined; long text cut."""
    if value is None or value == "" or value == []:
        return Shown("none", empty=True)
    if isinstance(value, bool):
        return Shown("yes" if value else "no")
    if isinstance(value, str):
        text = moment(value) or value
    elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        text = ", ".join(plain(v).text for v in value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(", ", ": "), sort_keys=True, default=str)
    else:
        text = str(value)
    return Shown(text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…")


def moment(text: str) -> str | None:
    """An ISO 8601 date and time as "31 Jan 2026 10:32 UTC" (None if ``text`` is not one)."""
    if not _ISO_MOMENT.match(text):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime("%d %b %Y %H:%M UTC")


def raw_json(value: Any) -> str:
    """The stored JSON, indented, for the "Raw" view (cut when very long)."""
    if value is None:
        return ""
    text = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= RAW_CHARS else text[:RAW_CHARS] + "…"
