"""Notices to org admins by email, once per threshold: a contract ending (``CONTRACT_NOTICE_DAYS``,
30 and 7 days before its end) and ended; a contract's seats at ``SEAT_NOTICE_PERCENTS`` (75% and
100%) of its limit. The scheduler runs them (``services.scheduling``) in the task's transaction.
Also what the org admins' notices page reads and changes.

Recipients: the organization's admins (``Membership.is_manager``) with an active account who have
not opted out (``notices_opt_out``); contracts: active, of an active organization.

Once: ``notice_mail.send_notice`` makes (kind, contract, recipient, key) unique, so retries and
racing workers send each notice once. The key holds what the threshold is about, so a change
starts it over: the end date ("7d:2026-12-31": an end moved, extended or renewed in place, is
noticed again) and the seat limit ("75:40": raising the limit re-arms both thresholds).

Only the nearest threshold: a contract first seen 5 days before its end gets the 7-day notice
alone, not the 30-day one late; one found full gets "full", not 75% too; and a threshold is not
sent once a nearer one went for the same end date or limit. ``contract_ended`` goes once, within
``ENDED_NOTICE_WITHIN`` of the end (contracts that ended long before are not announced now).

Bounded: contracts are read in keyset pages of ``PAGE_SIZE``; a page takes one query for the
seats held (the running totals, ``seats.claimed_counts``), one for the admins, one for the
notices already sent, then one ``send_notice`` per email still due.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import contains_eager, selectinload

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import (
    Contract,
    Membership,
    Notice,
    NoticeKind,
    Organization,
    User,
)
from portal.services.audit import record_event
from portal.services.notice_mail import portal_url, send_notice
from portal.services.seats import claimed_counts

log = logging.getLogger(__name__)
T = TypeVar("T")
_ID = attrgetter("id")

PAGE_SIZE = 200
ENDED_NOTICE_WITHIN = dt.timedelta(days=7)


# ----------------------------------------------------------------------------- shared by the notices


def as_utc(now: dt.datetime) -> dt.datetime:
    return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)


def thresholds(setting: str) -> list[int]:
    """The numbers of a comma-separated setting (``contract_notice_days``, ...), smallest first;
    an empty setting turns its notices off."""
    raw = str(getattr(current_app.config["PORTAL"], setting))
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not all(part.isascii() and part.isdigit() and int(part) > 0 for part in parts):
        raise ValueError(
            f"{setting.upper()} must be whole numbers above 0 separated by commas, not {raw!r}"
        )
    return sorted({int(part) for part in parts})


def portal_link(endpoint: str, *, anchor: str = "", **values: Any) -> str:
    """``notice_mail.portal_url``, ending in ``#anchor`` if given."""
    link = portal_url(endpoint, **values)
    return f"{link}#{anchor}" if anchor else link


def keyset_pages(
    page: Callable[[int, int], Sequence[T]], last_id: Callable[[T], int]
) -> Iterator[Sequence[T]]:
    """``page(after_id, size)`` for as long as it fills ``PAGE_SIZE`` rows, each after the last."""
    after, size = 0, PAGE_SIZE
    while True:
        rows = page(after, size)
        if rows:
            yield rows
        if len(rows) < size:
            return
        after = last_id(rows[-1])


def admin_recipients(org_ids: Iterable[int]) -> dict[int, list[str]]:
    """Where notices about each organization go: its org admins with an active account who have
    not opted out, by address."""
    ids = sorted(set(org_ids))
    found: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return found
    for org_id, email in db.session.execute(
        select(Membership.organization_id, User.email)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.organization_id.in_(ids),
            Membership.is_manager.is_(True),
            Membership.notices_opt_out.is_(False),
            User.is_active_account.is_(True),
        )
        .order_by(Membership.organization_id, User.email)
    ):
        found[org_id].append(email)
    return found


def sent_keys(
    kinds: Iterable[NoticeKind], subject_type: str, subject_ids: Iterable[int]
) -> dict[tuple[str, int, str], set[str]]:
    """The keys of the notices already sent about these subjects, by (kind, subject, recipient),
    in one query: what is sent already needs no insert to find out."""
    ids, wanted = sorted(set(subject_ids)), sorted(set(kinds))
    found: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    if not ids or not wanted:
        return found
    for kind, subject_id, recipient, key in db.session.execute(
        select(Notice.kind, Notice.subject_id, Notice.recipient, Notice.key).where(
            Notice.kind.in_(wanted),
            Notice.subject_type == subject_type,
            Notice.subject_id.in_(ids),
        )
    ):
        found[(str(kind), subject_id, recipient)].add(key)
    return found


def superseded(sent: Iterable[str], number: int, about: str, *, higher_is_later: bool) -> bool:
    """Whether the threshold ``number`` ("<number>[d]:<about>" keys), or a later one about the same
    thing, went already: later is more days after an assignment or more seats used, but fewer
    days before an end."""
    for key in sent:
        head, _, tail = key.partition(":")
        if tail != about or not head.strip("d").isdigit():
            continue
        other = int(head.strip("d"))
        if other == number or (other > number if higher_is_later else other < number):
            return True
    return False


def notify(kind: NoticeKind, **fields: Any) -> bool:
    """``send_notice``, skipping (and logging) an address the portal cannot send to, so that one
    bad address does not hold back every other notice of the run. True if it was queued now."""
    try:
        return send_notice(kind, **fields)
    except DomainError as exc:
        log.warning("notice %s to %r not sent: %s", kind, fields.get("recipient"), exc.message)
        return False


# ----------------------------------------------------------------------------- contracts and seats


@dataclass
class _Due:
    """A notice one contract's admins are due."""

    kind: NoticeKind
    contract: Contract
    key: str
    number: int | None  # the threshold (days before the end, percent of seats); None: ended
    about: str  # what the key is about: the end date, the seat limit
    context: dict[str, Any]

    def covered(self, sent: set[str]) -> bool:
        if self.key in sent:
            return True
        later = self.kind is NoticeKind.SEATS_USED
        return self.number is not None and superseded(
            sent, self.number, self.about, higher_is_later=later
        )


def _live_contracts(
    *conditions: ColumnElement[bool], after: int, size: int, renewals: bool = False
) -> list[Contract]:
    """A page of active contracts of active organizations (with them, and with the contracts
    renewing them if asked), by id after ``after``."""
    options = [contains_eager(Contract.organization)]
    if renewals:
        options.append(selectinload(Contract.renewal))
    return list(
        db.session.scalars(
            select(Contract)
            .join(Organization, Organization.id == Contract.organization_id)
            .options(*options)
            .where(
                Contract.active.is_(True),
                Organization.active.is_(True),
                Contract.id > after,
                *conditions,
            )
            .order_by(Contract.id)
            .limit(size)
        )
    )


def _send_due(found: Iterable[_Due | None]) -> int:
    """Send each due notice (None: nothing due) to its contract's admins who have not had it (or a
    later one)."""
    dues = [due for due in found if due is not None]
    if not dues:
        return 0
    admins = admin_recipients(due.contract.organization_id for due in dues)
    done = sent_keys({due.kind for due in dues}, "contract", (due.contract.id for due in dues))
    count = 0
    for due in dues:
        contract = due.contract
        for admin in admins.get(contract.organization_id, []):
            if due.covered(done.get((str(due.kind), contract.id, admin), set())):
                continue
            count += notify(
                due.kind,
                subject_type="contract",
                subject_id=contract.id,
                recipient=admin,
                key=due.key,
                template=due.kind.value,
                context=due.context,
                organization_id=contract.organization_id,
            )
    return count


def _context(contract: Contract, **values: Any) -> dict[str, Any]:
    """A contract notice's email context: the organization, the contract, ``values``, the links."""
    key = contract.organization.key
    return {
        "organization": contract.organization,
        "contract": contract,
        **values,
        "overview_url": portal_link(
            "org_admin.overview", org_key=key, anchor=f"contract-{contract.id}"
        ),
        "learners_url": portal_link("org_admin.learners", org_key=key, contract=contract.id),
        "settings_url": portal_link("org_admin.notices", org_key=key),
    }


def _contract_due(contract: Contract, now: dt.datetime, days: list[int]) -> _Due | None:
    """The ended notice after the end; before it, the nearest threshold of ``days`` reached."""
    end = contract.end_at
    assert end is not None  # the query's condition
    about = end.date().isoformat()
    context = _context(contract, renewal=contract.renewal)
    if end <= now:
        return _Due(NoticeKind.CONTRACT_ENDED, contract, about, None, about, context)
    reached = [d for d in days if end - now <= dt.timedelta(days=d)]
    if not reached:
        return None
    days_left = max(1, math.ceil((end - now) / dt.timedelta(days=1)))
    context.update(days_left=days_left, threshold=reached[0])
    key = f"{reached[0]}d:{about}"
    return _Due(NoticeKind.CONTRACT_ENDING, contract, key, reached[0], about, context)


def send_contract_notices(now: dt.datetime) -> int:
    """Notices of contracts ending within ``CONTRACT_NOTICE_DAYS`` and of contracts just ended, to
    their organizations' admins; the number of emails queued."""
    now = as_utc(now)
    days = thresholds("contract_notice_days")
    horizon = now + dt.timedelta(days=days[-1] if days else 0)
    window = (
        Contract.end_at.is_not(None),
        Contract.end_at > now - ENDED_NOTICE_WITHIN,
        Contract.end_at <= horizon,
    )
    count = 0
    ending = partial(_live_contracts, *window, renewals=True)
    for contracts in keyset_pages(lambda after, size: ending(after=after, size=size), _ID):
        count += _send_due(_contract_due(c, now, days) for c in contracts)
    return count


def _seats_due(contract: Contract, held: int, percents: list[int]) -> _Due | None:
    limit = int(contract.seat_limit or 0)
    reached = [p for p in percents if held * 100 >= p * limit]
    if not reached:
        return None
    percent = reached[-1]
    full = percent >= 100
    context = _context(
        contract,
        threshold=percent,
        full=full,
        held=held,
        limit=limit,
        remaining=max(0, limit - held),
        used_percent=math.floor(held * 100 / limit),
    )
    key, about = f"{percent}:{limit}", str(limit)
    return _Due(NoticeKind.SEATS_USED, contract, key, percent, about, context)


def send_seat_notices(now: dt.datetime) -> int:
    """Notices of seat-limited contracts that reached ``SEAT_NOTICE_PERCENTS`` of their limit, to
    their organizations' admins; the number of emails queued. Ended contracts are left out."""
    now = as_utc(now)
    percents = thresholds("seat_notice_percents")
    if not percents:
        return 0
    limited = (
        Contract.unlimited_seats.is_(False),
        Contract.seat_limit > 0,
        or_(Contract.end_at.is_(None), Contract.end_at > now),
    )
    count = 0
    seat_limited = partial(_live_contracts, *limited)
    for contracts in keyset_pages(lambda after, size: seat_limited(after=after, size=size), _ID):
        held = claimed_counts([contract.id for contract in contracts])
        count += _send_due(_seats_due(c, held.get(c.id, 0), percents) for c in contracts)
    return count


# ----------------------------------------------------------------------------- the notices page


def admin_membership(organization: Organization, user: User) -> Membership | None:
    """``user``'s org admin membership of ``organization`` (None for staff who are not one)."""
    return db.session.scalar(
        select(Membership).where(
            Membership.organization_id == organization.id,
            Membership.user_id == user.id,
            Membership.is_manager.is_(True),
        )
    )


def update_notice_settings(
    organization: Organization, user: User, *, email_me: bool | None, invite_reminders: bool
) -> list[str]:
    """Set ``user``'s own choice of notices by email (when they are one of the organization's
    admins; ``email_me`` None leaves it) and whether the organization's invitees get reminders.
    Each change is audited; returns what changed, in words (nothing: an empty list)."""
    changes: list[str] = []
    membership = admin_membership(organization, user)
    if membership is not None and email_me is not None and membership.notices_opt_out == email_me:
        _set(
            organization, membership, "notices_opt_out", not email_me, "notices.preference_changed"
        )
        changes.append(
            f"You will {'now' if email_me else 'no longer'} get notices about {organization.name}"
            " by email."
        )
    if organization.invite_reminders != invite_reminders:
        action = "organization.invite_reminders_changed"
        _set(organization, organization, "invite_reminders", invite_reminders, action)
        changes.append(
            "Invitees who have not redeemed their code will get reminders."
            if invite_reminders
            else "Invitees will no longer get automatic reminders."
        )
    db.session.flush()
    return changes


def _set(
    organization: Organization, row: Membership | Organization, name: str, value: bool, action: str
) -> None:
    """Change one flag of ``row``, audited with before and after."""
    kind = "membership" if isinstance(row, Membership) else "organization"
    before, after = {name: getattr(row, name)}, {name: value}
    record_event(action, kind, row.id, organization_id=organization.id, before=before, after=after)
    setattr(row, name, value)
