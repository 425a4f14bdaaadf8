"""The schemas of the organization API's resources in its OpenAPI document (``openapi.py``): one
per representation in ``representations.py``, field for field, and a page schema per listing."""

from __future__ import annotations

from typing import Any

from portal.models import MembershipType, SeatSource
from portal.models.codes import RedemptionType
from portal.models.contracts import NotLive
from portal.services.org_api import CODE_STATUSES, OUTCOME_STATUSES

STRING = {"type": "string"}
TEXT_OR_NULL = {"type": ["string", "null"]}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
WHEN = {"type": ["string", "null"], "format": "date-time", "description": "UTC, ISO 8601"}
FRACTION = {"type": ["number", "null"], "minimum": 0, "maximum": 1}


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _values(enum_type: Any) -> list[str]:
    return [member.value for member in enum_type]


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": _object(
            {"error": STRING, "detail": STRING, "status": INTEGER},
            "Every refusal: a short title, what to do about it, and the HTTP status.",
        ),
        "Organization": _object(
            {
                "id": INTEGER,
                "key": STRING,
                "name": STRING,
                "description": STRING,
                "active": BOOLEAN,
                "created_at": WHEN,
            }
        ),
        "Contract": _object(
            {
                "id": INTEGER,
                "name": STRING,
                "slug": STRING,
                "description": STRING,
                "membership_type": {"enum": _values(MembershipType)},
                "start_at": WHEN,
                "end_at": WHEN,
                "active": BOOLEAN,
                "live": {**BOOLEAN, "description": "Gives new access and enrollments now."},
                "not_live_reason": {"enum": [*_values(NotLive), None]},
                "unlimited_seats": BOOLEAN,
                "seat_limit": {"type": ["integer", "null"]},
                "seats_used": INTEGER,
                "seats_remaining": {"type": ["integer", "null"]},
                "active_enrollments": INTEGER,
                "price_per_learner": {**TEXT_OR_NULL, "description": "A decimal, e.g. '149.00'"},
                "created_at": WHEN,
            }
        ),
        "Seat": _object(
            {
                "id": INTEGER,
                "email": STRING,
                "name": STRING,
                "source": {"enum": _values(SeatSource)},
                "claimed_at": WHEN,
                "revoked_at": WHEN,
            }
        ),
        "Learner": _object(
            {
                "enrollment_id": INTEGER,
                "email": STRING,
                "name": STRING,
                "contract_id": INTEGER,
                "contract_name": STRING,
                "course_run_key": STRING,
                "course_run_title": STRING,
                "enrollment_active": BOOLEAN,
                "enrolled_at": WHEN,
                "status": {"enum": list(OUTCOME_STATUSES)},
                "percent": {**FRACTION, "description": "The grade, from 0 to 1."},
                "letter_grade": TEXT_OR_NULL,
                "passed": BOOLEAN,
                "progress": {**FRACTION, "description": "Share of the course done, 0 to 1."},
                "certificate_url": {**TEXT_OR_NULL, "description": "When a certificate is earned."},
                "completed_at": WHEN,
                "synced_at": {**WHEN, "description": "When the outcome was last read from edX."},
            },
            "One learner in one course run, enrolled through one of the organization's contracts.",
        ),
        "Code": _object(
            {
                "id": INTEGER,
                "code": STRING,
                "contract_id": INTEGER,
                "status": {"enum": list(CODE_STATUSES)},
                "redemption_type": {"enum": _values(RedemptionType)},
                "max_uses": {"type": ["integer", "null"]},
                "times_used": INTEGER,
                "assigned_email": TEXT_OR_NULL,
                "assigned_at": WHEN,
                "activates_at": WHEN,
                "expires_at": WHEN,
                "deactivated_at": WHEN,
                "created_at": WHEN,
            }
        ),
    }
    link = {"type": ["string", "null"], "format": "uri"}
    for name in ("Contract", "Seat", "Learner", "Code"):
        schemas[f"{name}Page"] = _object(
            {
                "count": {**INTEGER, "description": "Rows in the whole listing."},
                "page": INTEGER,
                "page_size": INTEGER,
                "next": link,
                "previous": link,
                "results": {"type": "array", "items": ref("schemas", name)},
            }
        )
    return schemas
