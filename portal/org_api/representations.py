"""The JSON of each resource of the organization API; ``openapi.py`` describes the same fields."""

from __future__ import annotations

from typing import Any

from portal.models import Organization
from portal.services.catalog import iso_z
from portal.services.org_api import ContractRow


def organization_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "key": org.key,
        "name": org.name,
        "description": org.description,
        "active": org.active,
        "created_at": iso_z(org.created_at),
    }


def contract_json(row: ContractRow) -> dict[str, Any]:
    contract = row.contract
    price = contract.price_per_learner
    return {
        "id": contract.id,
        "name": contract.name,
        "slug": contract.slug,
        "description": contract.description,
        "membership_type": contract.membership_type.value,
        "start_at": iso_z(contract.start_at),
        "end_at": iso_z(contract.end_at),
        "active": contract.active,
        "live": row.live,
        "not_live_reason": row.not_live_reason.value if row.not_live_reason else None,
        "unlimited_seats": contract.unlimited_seats,
        "seat_limit": None if contract.unlimited_seats else contract.seat_limit,
        "seats_used": row.seats_used,
        "seats_remaining": row.seats_remaining,
        "active_enrollments": row.active_enrollments,
        "price_per_learner": None if price is None else f"{price:.2f}",
        "created_at": iso_z(contract.created_at),
    }


def seat_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "source": row.source.value,
        "claimed_at": iso_z(row.claimed_at),
        "revoked_at": iso_z(row.revoked_at),
    }


def _fraction(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def learner_json(row: Any) -> dict[str, Any]:
    return {
        "enrollment_id": row.id,
        "email": row.email,
        "name": row.name,
        "contract_id": row.contract_id,
        "contract_name": row.contract_name,
        "course_run_key": row.course_key,
        "course_run_title": row.title,
        "enrollment_active": row.active,
        "enrolled_at": iso_z(row.created_at),
        "status": str(row.status),
        "percent": _fraction(row.percent),
        "letter_grade": row.letter_grade,
        "passed": bool(row.passed),
        "progress": _fraction(row.progress),
        "certificate_url": row.certificate_url,
        "completed_at": iso_z(row.completed_at),
        "synced_at": iso_z(row.synced_at),
    }


def code_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "code": row.code,
        "contract_id": row.contract_id,
        "status": str(row.status),
        "redemption_type": row.redemption_type.value,
        "max_uses": row.max_uses,
        "times_used": row.times_redeemed,
        "assigned_email": row.assigned_email,
        "assigned_at": iso_z(row.assigned_at),
        "activates_at": iso_z(row.activates_at),
        "expires_at": iso_z(row.expires_at),
        "deactivated_at": iso_z(row.deactivated_at),
        "created_at": iso_z(row.created_at),
    }
