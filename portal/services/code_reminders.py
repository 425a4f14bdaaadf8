"""Assigned codes nobody redeemed yet: scheduled reminders to their invitees, and a weekly digest of
them to the organization's admins. Run by the scheduler (``services.scheduling``), inside the
task's job transaction.

Reminders (``CODE_REMINDER_DAYS``, days 3, 10 and 19 after the assignment): the invitation email
again, as the codes page's "Remind" sends it (``code_assignment.invitation``), to the address the
code is assigned to. Each run sends a code the reminder of the latest day reached and not sent yet,
so a run that was missed never sends two at once. The key holds the assignment time ("d10:<assigned
at>"): reassigning a code starts its schedule over. A code is reminded only while it waits: still
assigned, not redeemed, not deactivated (revoking an assignment deactivates it), not expired, its
contract live; so the reminders stop with the redemption or the revocation. Organizations whose
admins switched reminders off (``Organization.invite_reminders``) get none. A code whose last
reminder day is more than ``CATCH_UP`` past (assigned long before reminders existed, or a scheduler
down for weeks) is past its schedule and is not reminded any more.

The scheduled reminders leave the code's ``reminded_at`` (the last reminder sent by hand) alone:
the run reads codes and never locks them, so it never holds up a redemption.

The digest (weekly, key: the ISO week): to each admin of an organization with such codes who has
not opted out, the codes waiting (address, contract, assigned date, reminders sent), the
``DIGEST_ROWS`` assigned longest ago and the total. No codes waiting, no digest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import ColumnExpressionArgument, func, or_, select

from portal.extensions import db
from portal.models import Contract, EnrollmentCode, Notice, NoticeKind, Organization
from portal.services.audit import record_event
from portal.services.code_assignment import INVITATION_TEMPLATE, invitation
from portal.services.notices import (
    admin_recipients,
    as_utc,
    keyset_pages,
    notify,
    portal_link,
    sent_keys,
    superseded,
    thresholds,
)

CATCH_UP = dt.timedelta(days=7)
DIGEST_ROWS = 100


def iso_week(now: dt.datetime) -> str:
    year, week, _ = as_utc(now).isocalendar()
    return f"{year}-W{week:02d}"


def waiting(now: dt.datetime) -> list[ColumnExpressionArgument[bool]]:
    """Codes assigned to someone who has not redeemed them yet and still can: not deactivated,
    not expired, on a live contract (joined)."""
    return [
        EnrollmentCode.assigned_email.is_not(None),
        EnrollmentCode.assigned_at.is_not(None),
        EnrollmentCode.times_redeemed == 0,
        EnrollmentCode.deactivated_at.is_(None),
        or_(EnrollmentCode.expires_at.is_(None), EnrollmentCode.expires_at > now),
        Contract.is_live_at(now),
    ]


# ----------------------------------------------------------------------------- reminders


def _reminder_page(now: dt.datetime, days: list[int], after: int, size: int) -> list[Any]:
    """A page of (code, contract, organization) due a reminder day, by code id after ``after``."""
    return list(
        db.session.execute(
            select(EnrollmentCode, Contract, Organization)
            .join(Contract, Contract.id == EnrollmentCode.contract_id)
            .join(Organization, Organization.id == Contract.organization_id)
            .where(
                *waiting(now),
                Organization.invite_reminders.is_(True),
                EnrollmentCode.assigned_at <= now - dt.timedelta(days=days[0]),
                EnrollmentCode.assigned_at > now - dt.timedelta(days=days[-1]) - CATCH_UP,
                EnrollmentCode.id > after,
            )
            .order_by(EnrollmentCode.id)
            .limit(size)
        )
    )


def _remind(rows: list[Any], now: dt.datetime, days: list[int], base_url: str) -> int:
    done = sent_keys([NoticeKind.CODE_REMINDER], "code", (code.id for code, _, _ in rows))
    count = 0
    for code, contract, org in rows:
        assigned_at = as_utc(code.assigned_at).isoformat()
        day = max(d for d in days if code.assigned_at + dt.timedelta(days=d) <= now)
        sent = done.get((NoticeKind.CODE_REMINDER.value, code.id, code.assigned_email), set())
        if superseded(sent, day, assigned_at, higher_is_later=True):
            continue
        values = invitation(code, contract, org, base_url, reminder=True)
        if notify(
            NoticeKind.CODE_REMINDER,
            subject_type="code",
            subject_id=code.id,
            recipient=code.assigned_email,
            key=f"d{day}:{assigned_at}",
            template=INVITATION_TEMPLATE,
            context=values,
            organization_id=org.id,
        ):
            count += 1
            record_event(
                "code.reminded",
                "enrollment_code",
                code.id,
                organization_id=org.id,
                after={"email": code.assigned_email, "scheduled": True, "day": day},
            )
    return count


def send_code_reminders(now: dt.datetime) -> int:
    """The reminder due to each invitee whose assigned code waits (see the module); the number
    of emails queued."""
    now = as_utc(now)
    days = thresholds("code_reminder_days")
    if not days:
        return 0
    base_url = str(current_app.config["PORTAL"].public_base_url)
    count = 0
    for rows in keyset_pages(lambda after, size: _reminder_page(now, days, after, size), _code_id):
        count += _remind(list(rows), now, days, base_url)
    return count


def _code_id(row: Any) -> int:
    return int(row[0].id)


# ----------------------------------------------------------------------------- the digest


@dataclass
class DigestRow:
    email: str
    contract_name: str
    assigned_at: dt.datetime | None
    reminders: int  # scheduled reminders sent for this assignment
    reminded_at: dt.datetime | None  # the last reminder sent by hand


def _organizations_waiting(now: dt.datetime, after: int, size: int) -> list[Any]:
    """A page of (organization id, codes waiting), by organization id after ``after``."""
    return list(
        db.session.execute(
            select(Contract.organization_id, func.count(EnrollmentCode.id))
            .join(Contract, Contract.id == EnrollmentCode.contract_id)
            .where(*waiting(now), Contract.organization_id > after)
            .group_by(Contract.organization_id)
            .order_by(Contract.organization_id)
            .limit(size)
        )
    )


def _reminders_sent(codes: list[EnrollmentCode]) -> dict[int, int]:
    """Scheduled reminders sent for each code's current assignment, in one query."""
    counts: dict[int, int] = defaultdict(int)
    assigned = {
        code.id: f":{as_utc(code.assigned_at).isoformat()}" for code in codes if code.assigned_at
    }
    if not assigned:
        return counts
    for code_id, key in db.session.execute(
        select(Notice.subject_id, Notice.key).where(
            Notice.kind == NoticeKind.CODE_REMINDER,
            Notice.subject_type == "code",
            Notice.subject_id.in_(assigned),
        )
    ):
        if key.endswith(assigned[code_id]):
            counts[code_id] += 1
    return counts


def _digest_context(org: Organization, now: dt.datetime, total: int) -> dict[str, Any]:
    found = db.session.execute(
        select(EnrollmentCode, Contract)
        .join(Contract, Contract.id == EnrollmentCode.contract_id)
        .where(*waiting(now), Contract.organization_id == org.id)
        .order_by(EnrollmentCode.assigned_at, EnrollmentCode.id)
        .limit(DIGEST_ROWS)
    ).all()
    reminders = _reminders_sent([code for code, _ in found])
    rows = [
        DigestRow(
            code.assigned_email or "",
            contract.name,
            code.assigned_at,
            reminders.get(code.id, 0),
            code.reminded_at,
        )
        for code, contract in found
    ]
    contracts = {contract.id: contract for _, contract in found}
    return {
        "organization": org,
        "rows": rows,
        "total": total,
        "reminder_days": thresholds("code_reminder_days"),  # in words by the template
        "contract_links": [
            (
                c.name,
                portal_link(
                    "org_admin.codes", org_key=org.key, contract_id=c.id, status="assigned"
                ),
            )
            for c in sorted(contracts.values(), key=lambda c: (c.name, c.id))
        ],
        "settings_url": portal_link("org_admin.notices", org_key=org.key),
    }


def _digest_page(rows: list[Any], now: dt.datetime, week: str) -> int:
    org_ids = [org_id for org_id, _ in rows]
    admins = admin_recipients(org_ids)
    kind = NoticeKind.UNREDEEMED_DIGEST
    done = sent_keys([kind], "organization", org_ids)
    orgs = {
        o.id: o
        for o in db.session.scalars(select(Organization).where(Organization.id.in_(org_ids)))
    }
    count = 0
    for org_id, total in rows:
        todo = [
            a
            for a in admins.get(org_id, [])
            if week not in done.get((kind.value, org_id, a), set())
        ]
        if not todo:
            continue
        org = orgs[org_id]
        context = _digest_context(org, now, int(total))
        for admin in todo:
            count += notify(
                kind,
                subject_type="organization",
                subject_id=org_id,
                recipient=admin,
                key=week,
                template=kind.value,
                context=context,
                organization_id=org_id,
            )
    return count


def send_unredeemed_digests(now: dt.datetime) -> int:
    """This week's digest of the codes waiting (see the module) to each organization's admins;
    the number of emails queued."""
    now = as_utc(now)
    week = iso_week(now)
    count = 0
    for rows in keyset_pages(lambda after, size: _organizations_waiting(now, after, size), _org_id):
        count += _digest_page(list(rows), now, week)
    return count


def _org_id(row: Any) -> int:
    return int(row[0])
