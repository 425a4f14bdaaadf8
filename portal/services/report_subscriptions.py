"""Scheduled reports: an org admin's standing order for a weekly or monthly email about one
organization, with a signed, expiring link to its learners CSV (the org admin learners export).

* Only an admin (a manager member) subscribes, once per organization; changing the frequency
  updates the subscription. Subscribing, changing and unsubscribing are audited.
* ``send_scheduled_reports`` runs daily (``services.scheduling``, task ``scheduled-reports``) and
  sends each subscription whose current period has no report yet: the ISO week of ``now`` for a
  weekly one (so it goes on the Monday run), the month for a monthly one (the run on the 1st). A
  new subscription gets its first report at the next run. The report gives the previous week's or
  month's completions and the seats and learners as of the run; the CSV behind the link is read
  when downloaded. ``send_notice`` keys each email on (subscription, period): a run retried or
  doubled sends it once.
* A subscriber who is no longer an admin of the organization gets nothing: the run deletes the
  subscription and audits it (``report_subscription.dropped``, by the system, with the reason).
  There is no paused state: a report about an organization one no longer manages must not go out,
  and an admin made one again subscribes again.
* The link (``services.report_links``) carries the subscription, the user and the period, signed
  and expiring; it opens the CSV only for that user while still an admin of the organization.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import (
    NoticeKind,
    Organization,
    ReportFrequency,
    ReportSubscription,
    Seat,
    User,
)
from portal.services.audit import record_event
from portal.services.courseware import snapshot
from portal.services.notice_mail import portal_url, send_notice
from portal.services.organization_contracts import organization_contracts
from portal.services.outcomes import completions_by_contract, summaries_by_contract
from portal.services.report_links import (
    NotAnAdmin,
    is_org_admin,
    link_days,
    link_token,
    org_admin_exists,
)
from portal.services.seats import claimed_counts

log = logging.getLogger(__name__)

BATCH = 100  # subscriptions read at a time by the daily run
FIELDS = ("organization_id", "user_id", "frequency")


# ----------------------------------------------------------------------------- subscriptions


def subscription_of(organization: Organization, user: User) -> ReportSubscription | None:
    return db.session.scalar(
        select(ReportSubscription).where(
            ReportSubscription.organization_id == organization.id,
            ReportSubscription.user_id == user.id,
        )
    )


def subscribe(
    organization: Organization, user: User, frequency: ReportFrequency
) -> tuple[ReportSubscription, str]:
    """Subscribe ``user`` (an admin of ``organization``) or change their frequency; returns the
    subscription and ``created``, ``changed`` or ``unchanged``. The insert is guarded by the
    unique (organization, user) key, so two clicks at once make one subscription."""
    if not is_org_admin(organization.id, user.id):
        raise NotAnAdmin(
            f"Only {organization.name}'s admins can subscribe to its reports.", code="not_org_admin"
        )
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    new_id = db.session.scalar(
        insert(ReportSubscription)
        .values(organization_id=organization.id, user_id=user.id, frequency=frequency)
        .on_conflict_do_nothing(index_elements=["organization_id", "user_id"])
        .returning(ReportSubscription.id)
    )
    subscription = subscription_of(organization, user)
    assert subscription is not None
    if new_id is not None:
        _audit("report_subscription.created", subscription, after=snapshot(subscription, FIELDS))
        return subscription, "created"
    if subscription.frequency is frequency:
        return subscription, "unchanged"
    before = snapshot(subscription, FIELDS)
    subscription.frequency = frequency
    db.session.flush()
    _audit(
        "report_subscription.changed",
        subscription,
        before=before,
        after=snapshot(subscription, FIELDS),
    )
    return subscription, "changed"


def unsubscribe(organization: Organization, user: User) -> bool:
    """End ``user``'s subscription to ``organization``'s reports; False if there was none. Links
    already sent stop working (the download answers 410)."""
    subscription = subscription_of(organization, user)
    if subscription is None:
        return False
    _delete(subscription, "report_subscription.cancelled")
    return True


def _audit(action: str, subscription: ReportSubscription, **values: Any) -> None:
    record_event(
        action,
        "report_subscription",
        subscription.id,
        organization_id=subscription.organization_id,
        **values,
    )


def _delete(subscription: ReportSubscription, action: str, reason: str = "") -> None:
    _audit(action, subscription, before=snapshot(subscription, FIELDS), reason=reason)
    db.session.delete(subscription)
    db.session.flush()


# ----------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """The period a report is sent in (``key``, the notice key) and the one it reports on: the
    previous week or month, ``covered_start`` to ``covered_end`` inclusive."""

    frequency: ReportFrequency
    key: str
    covered_start: dt.date
    covered_end: dt.date

    @property
    def covered_year(self) -> int:
        """The ISO year and week of a weekly report's week (the email says "week 49 of 2026")."""
        return self.covered_start.isocalendar()[0]

    @property
    def covered_week(self) -> int:
        return self.covered_start.isocalendar()[1]


def current_period(frequency: ReportFrequency, now: dt.datetime) -> Period:
    """Weekly: the ISO week of ``now`` ("2026-W50"), reporting on the week before it. Monthly:
    the month of ``now`` ("2026-12"), reporting on the month before it."""
    today = now.astimezone(dt.UTC).date()
    if frequency is ReportFrequency.WEEKLY:
        year, week, _ = today.isocalendar()
        start = today - dt.timedelta(days=today.weekday()) - dt.timedelta(days=7)
        end = start + dt.timedelta(days=6)
        return Period(frequency, f"{year}-W{week:02d}", start, end)
    end = today.replace(day=1) - dt.timedelta(days=1)
    start = end.replace(day=1)
    return Period(frequency, f"{today:%Y-%m}", start, end)


# ----------------------------------------------------------------------------- the summary


@dataclass(frozen=True)
class ContractLine:
    name: str
    active: bool
    claimed: int
    limit: int | None  # None: unlimited
    completions: int  # in the covered period


@dataclass(frozen=True)
class ReportSummary:
    contracts: list[ContractLine]
    learners: int  # people holding at least one seat now
    outcomes: bool  # whether any course run's outcomes were synced from edX
    completions: int  # in the covered period
    completions_total: int


def report_summary(organization: Organization, period: Period) -> ReportSummary:
    """The numbers in the email, in six queries whatever the organization's size: its contracts,
    seats held per contract (running totals), learners with a seat, outcome syncs, and
    completions (two grouped queries)."""
    contracts = organization_contracts(organization)
    ids = [c.id for c in contracts]
    claimed = claimed_counts(ids) if ids else {}
    learners = 0
    if ids:
        learners = int(
            db.session.scalar(
                select(func.count(func.distinct(Seat.user_id))).where(
                    Seat.contract_id.in_(ids), Seat.revoked_at.is_(None)
                )
            )
            or 0
        )
    synced = summaries_by_contract(ids)
    series = completions_by_contract(ids, period.covered_start, period.covered_end)
    lines, in_period, total = [], 0, 0
    for contract in contracts:
        days = series[contract.id].days
        done = sum(n for day, n in days if day <= period.covered_end)
        in_period += done
        total += series[contract.id].baseline + sum(n for _, n in days)
        lines.append(
            ContractLine(
                name=contract.name,
                active=contract.active,
                claimed=claimed.get(contract.id, 0),
                limit=None if contract.unlimited_seats else int(contract.seat_limit or 0),
                completions=done,
            )
        )
    outcomes = total > 0 or any(synced[cid].synced_runs for cid in ids)
    return ReportSummary(lines, learners, outcomes, in_period, total)


# ----------------------------------------------------------------------------- the daily run


def send_scheduled_reports(now: dt.datetime) -> int:
    """Send every subscription whose current period has no report yet; returns how many were
    queued. Subscriptions are read ``BATCH`` at a time in (organization, id) order, and only the
    current organization's summaries are kept, so memory stays flat at any number. The caller
    commits."""
    periods = {f: current_period(f, now) for f in ReportFrequency}
    due = or_(
        *(
            and_(
                ReportSubscription.frequency == f,
                func.coalesce(ReportSubscription.last_period, "") != p.key,
            )
            for f, p in periods.items()
        )
    )
    sent, after = 0, (0, 0)
    summaries: dict[tuple[int, ReportFrequency], ReportSummary] = {}
    while batch := _due_batch(due, after):
        for subscription, user, organization, admin in batch:
            after = (organization.id, subscription.id)
            if not admin:
                reason = (
                    f"{user.email} is no longer an admin of {organization.name}: no report sent."
                )
                _delete(subscription, "report_subscription.dropped", reason)
                continue
            key = (organization.id, subscription.frequency)
            if key not in summaries:
                summaries = {k: v for k, v in summaries.items() if k[0] == organization.id}
                summaries[key] = report_summary(organization, periods[subscription.frequency])
            period = periods[subscription.frequency]
            sent += _send(subscription, user, organization, period, summaries[key], now)
    return sent


def _due_batch(due: Any, after: tuple[int, int]) -> list[Any]:
    admin = org_admin_exists(ReportSubscription.organization_id, ReportSubscription.user_id)
    return list(
        db.session.execute(
            select(ReportSubscription, User, Organization, admin.label("admin"))
            .join(User, User.id == ReportSubscription.user_id)
            .join(Organization, Organization.id == ReportSubscription.organization_id)
            .where(
                due,
                tuple_(ReportSubscription.organization_id, ReportSubscription.id) > tuple_(*after),
            )
            .order_by(ReportSubscription.organization_id, ReportSubscription.id)
            .limit(BATCH)
        )
    )


def _send(
    subscription: ReportSubscription,
    user: User,
    organization: Organization,
    period: Period,
    summary: ReportSummary,
    now: dt.datetime,
) -> bool:
    token = link_token(subscription, period.key, now=now)
    context = {
        "name": user.name or user.email,
        "email": user.email,
        "organization": organization,
        "frequency": subscription.frequency.value,
        "period": period,
        "summary": summary,
        "as_of": now,
        "link": portal_url("org_admin.report_download", org_key=organization.key, token=token),
        "expires_at": now + dt.timedelta(days=link_days()),
        "reports_url": portal_url("org_admin.reports", org_key=organization.key),
    }
    try:
        queued = send_notice(
            NoticeKind.SCHEDULED_REPORT,
            subject_type="report_subscription",
            subject_id=subscription.id,
            recipient=user.email,
            key=period.key,
            template="scheduled_report",
            context=context,
            organization_id=organization.id,
        )
    except DomainError as exc:  # an address the mail service refuses: the others still go
        log.warning("scheduled report %s not sent: %s", subscription.id, exc.message)
        return False
    subscription.last_period = period.key
    if queued:
        subscription.last_sent_at = now
    db.session.flush()
    return queued
