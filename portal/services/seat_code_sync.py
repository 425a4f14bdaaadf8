"""Keeping a contract's seat codes in step with its seats (b2b-rules section 5) after a change that
moves the seat count, and saying what happened in words.

A person waits for the page: up to ``codes.INLINE_MAX`` new codes are made at once, the rest by the
``codes.generate`` job, whose start is audited on the contract (``codes.generation_queued``).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from portal.core.text import group_code, plural
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob, Contract
from portal.services import seat_codes as code_service
from portal.services.jobs import start_job
from portal.services.seat_codes import SeatCodeChange


def seat_code_notes(change: SeatCodeChange, *, warn: bool = False) -> list[str]:
    """What ``seat_codes.adjust_seat_codes`` did, in words; with ``warn``, a word of caution about an
    unlimited contract's multi-use code."""
    notes = []
    if change.removed:
        notes.append(
            plural(
                change.removed,
                "Removed %(num)s unused seat code, newest first.",
                "Removed %(num)s unused seat codes, newest first.",
            )
        )
    if change.closed:
        notes.append(
            plural(
                change.closed,
                "Deactivated %(num)s multi-use code: seats are limited now.",
                "Deactivated %(num)s multi-use codes: seats are limited now.",
            )
        )
    if change.unlimited_code:
        code = group_code(change.unlimited_code)
        if warn:
            notes.append(
                _(
                    "Its single multi-use code is %(code)s. Anyone who gets hold of it can join: "
                    "hand it out carefully.",
                    code=code,
                )
            )
        else:
            notes.append(_("Its single multi-use code is %(code)s.", code=code))
    added = change.added - (1 if change.unlimited_code else 0)
    if added:
        notes.append(
            plural(added, "Added %(num)s one-time seat code.", "Added %(num)s one-time seat codes.")
        )
    return notes


def queue_code_generation(contract: Contract, payload: dict[str, Any], count: int) -> BackgroundJob:
    """Start the ``codes.generate`` job for ``count`` codes, audited on the contract."""
    return start_job(
        JobKind.CODES_GENERATE,
        payload,
        about=("contract", contract.id),
        organization_id=contract.organization_id,
        action="codes.generation_queued",
        audit={"count": count, "seats": bool(payload.get("seats"))},
    )


def sync_seat_codes(contract: Contract) -> list[str]:
    """Make the contract's seat codes match its seats: up to ``INLINE_MAX`` new codes now, the rest
    by the ``codes.generate`` job. Call it with the contract row locked. Returns messages for the
    person who made the change."""
    change = code_service.adjust_seat_codes(contract, add_limit=code_service.INLINE_MAX)
    notes = seat_code_notes(change, warn=True)
    if change.pending:
        job = queue_code_generation(
            contract, {"contract_id": contract.id, "seats": True}, change.pending
        )
        notes.append(
            plural(
                change.pending,
                "%(num)s more seat code is being generated (job #%(job)s); progress shows on the "
                "contract page.",
                "%(num)s more seat codes are being generated (job #%(job)s); progress shows on the "
                "contract page.",
                job=job.id,
            )
        )
    return notes
