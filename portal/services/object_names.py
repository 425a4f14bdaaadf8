"""Names for the objects that staff lists point at ("Contract Acme Leadership Circle", "Order B2B-1042",
"Enrollment of ada@example.com in Data Basics"), and the staff page of each where one exists.

A list page asks for every object its rows mention first (``ObjectNames.want``), then reads them at
once (``load``): one SELECT per object type on the page, whatever the number of rows, each reading
only the columns a name needs. An object that is gone keeps its type and id ("Contract #7") and says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select

from portal.core.text import lazy_gettext as _l
from portal.extensions import db
from portal.models import (
    ApiToken,
    BackgroundJob,
    Contract,
    Course,
    CourseRun,
    Enrollment,
    EnrollmentCode,
    Membership,
    Order,
    Organization,
    OrganizationApiToken,
    OutboxMessage,
    Program,
    Refund,
    ReportSubscription,
    ScheduledRun,
    Seat,
    User,
)


@dataclass(frozen=True)
class NamedObject:
    """An object as a staff page names it: its kind and name, and the staff endpoint (with its URL
    arguments) of the page that shows it, when there is one."""

    type: str
    id: str | None
    kind: str
    name: str = ""
    endpoint: str | None = None
    url_args: Mapping[str, Any] = field(default_factory=dict)
    found: bool = True
    # The name is a whole phrase with the kind in it ("Enrollment of ada@example.com in Data
    # Basics", written per language): it is the label, and never reads alone.
    whole: bool = False

    @property
    def label(self) -> str:
        if self.whole:
            return self.name
        return f"{self.kind} {self.name}" if self.name else str(self.kind)

    @property
    def short(self) -> str:
        """The name alone where it reads alone ("ada@example.com" under Actor), else the label."""
        if self.found and self.name and not self.whole and not self.name.startswith("#"):
            return self.name
        return self.label


def _kind_of(object_type: str) -> str:
    return object_type.replace("_", " ").capitalize()


def missing(object_type: str, object_id: object) -> NamedObject:
    """An object the database does not hold (deleted, or never an integer id): its type and id.
    Without an id (an event about organizations at large), there is nothing to find."""
    name = "" if object_id in (None, "") else f"#{object_id}"
    kind = KINDS.get(object_type, _kind_of(object_type))
    return NamedObject(object_type, _id_text(object_id), kind, name, found=not name)


def _id_text(object_id: object) -> str | None:
    return None if object_id is None else str(object_id)


# ----------------------------------------------------------------------------- one query per type


def _simple(
    object_type: str, column: Any, endpoint: str | None = None, arg: str = "", by_name: bool = False
) -> Callable[[list[int]], Iterable[NamedObject]]:
    """A loader of one name column; the staff page's URL argument is the id (or the name)."""
    model = column.class_

    def load(ids: list[int]) -> Iterable[NamedObject]:
        for id_, name in db.session.execute(select(model.id, column).where(model.id.in_(ids))):
            args = {arg: name if by_name else id_} if arg else {}
            yield _named(object_type, id_, name, endpoint, **args)

    return load


def _named(
    object_type: str, id_: int, name: str, endpoint: str | None = None, **url_args: Any
) -> NamedObject:
    return NamedObject(object_type, str(id_), KINDS[object_type], name, endpoint, url_args)


def _phrase(
    object_type: str, id_: int, phrase: str, endpoint: str | None = None, **url_args: Any
) -> NamedObject:
    """An object named by a whole phrase (``NamedObject.whole``)."""
    return NamedObject(
        object_type, str(id_), KINDS[object_type], phrase, endpoint, url_args, whole=True
    )


def _codes(ids: list[int]) -> Iterable[NamedObject]:
    query = select(EnrollmentCode.id, EnrollmentCode.code, EnrollmentCode.contract_id)
    for id_, code, contract_id in db.session.execute(query.where(EnrollmentCode.id.in_(ids))):
        yield _named("enrollment_code", id_, code, "staff.contract_detail", contract_id=contract_id)


def _enrollments(ids: list[int]) -> Iterable[NamedObject]:
    query = (
        select(Enrollment.id, User.email, CourseRun.title)
        .join(User, User.id == Enrollment.user_id)
        .join(CourseRun, CourseRun.id == Enrollment.course_run_id)
        .where(Enrollment.id.in_(ids))
    )
    for id_, email, title in db.session.execute(query):
        phrase = _("Enrollment of %(email)s in %(title)s", email=email, title=title)
        yield _phrase("enrollment", id_, phrase, "staff.users", q=email)


def _runs(ids: list[int]) -> Iterable[NamedObject]:
    query = select(CourseRun.id, CourseRun.title, CourseRun.course_key)
    for id_, title, key in db.session.execute(query.where(CourseRun.id.in_(ids))):
        yield _named("course_run", id_, f"{title} ({key})", "staff.run_edit", run_id=id_)


def _jobs(ids: list[int]) -> Iterable[NamedObject]:
    query = select(BackgroundJob.id, BackgroundJob.kind).where(BackgroundJob.id.in_(ids))
    for id_, kind in db.session.execute(query):
        yield _named(
            "background_job", id_, f"#{id_} {kind}", "staff.jobs", kind=kind, _anchor=f"job-{id_}"
        )


def _org_api_tokens(ids: list[int]) -> Iterable[NamedObject]:
    token = OrganizationApiToken
    query = select(token.id, token.name, token.organization_id).where(token.id.in_(ids))
    for id_, name, org_id in db.session.execute(query):
        yield _named(
            "organization_api_token", id_, name, "staff.organization_detail", org_id=org_id
        )


def _memberships(ids: list[int]) -> Iterable[NamedObject]:
    query = (
        select(Membership.id, User.email, Organization.name, Organization.id)
        .join(User, User.id == Membership.user_id)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.id.in_(ids))
    )
    for id_, email, org, org_id in db.session.execute(query):
        phrase = _("Membership of %(email)s in %(organization)s", email=email, organization=org)
        yield _phrase("membership", id_, phrase, "staff.organization_detail", org_id=org_id)


def _subscriptions(ids: list[int]) -> Iterable[NamedObject]:
    sub = ReportSubscription
    query = (
        select(sub.id, User.email, sub.frequency, sub.organization_id)
        .join(User, User.id == sub.user_id)
        .where(sub.id.in_(ids))
    )
    for id_, email, frequency, org_id in db.session.execute(query):
        phrase = _(
            "Report subscription of %(email)s (%(frequency)s)",
            email=email,
            frequency=FREQUENCIES.get(frequency.value, frequency.value),
        )
        yield _phrase(
            "report_subscription", id_, phrase, "staff.organization_detail", org_id=org_id
        )


def _messages(ids: list[int]) -> Iterable[NamedObject]:
    query = select(OutboxMessage.id, OutboxMessage.to_email, OutboxMessage.subject)
    for id_, to, subject in db.session.execute(query.where(OutboxMessage.id.in_(ids))):
        yield _phrase(
            "outbox_message", id_, _("Email to %(to)s: %(subject)s", to=to, subject=subject)
        )


def _scheduled_runs(ids: list[int]) -> Iterable[NamedObject]:
    query = select(ScheduledRun.id, ScheduledRun.name, ScheduledRun.period_start)
    for id_, name, start in db.session.execute(query.where(ScheduledRun.id.in_(ids))):
        phrase = _(
            "Scheduled run %(name)s of %(start)s",
            name=name,
            start=format_datetime(start, "dd MMM y HH:mm"),
        )
        yield _phrase("scheduled_run", id_, phrase, "staff.jobs", _anchor="scheduled")


def _seats(ids: list[int]) -> Iterable[NamedObject]:
    query = (
        select(Seat.id, User.email, Contract.name, Contract.id)
        .join(User, User.id == Seat.user_id)
        .join(Contract, Contract.id == Seat.contract_id)
        .where(Seat.id.in_(ids))
    )
    for id_, email, contract, contract_id in db.session.execute(query):
        phrase = _("Seat of %(email)s on %(contract)s", email=email, contract=contract)
        yield _phrase("seat", id_, phrase, "staff.contract_detail", contract_id=contract_id)


def _refunds(ids: list[int]) -> Iterable[NamedObject]:
    query = (
        select(Refund.id, Order.reference)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.id.in_(ids))
    )
    for id_, reference in db.session.execute(query):
        phrase = _("Refund of order %(reference)s", reference=reference)
        yield _phrase("refund", id_, phrase, "staff.order_detail", reference=reference)


FREQUENCIES = {"weekly": _l("weekly"), "monthly": _l("monthly")}
KINDS: dict[str, Any] = {
    "contract": _l("Contract"),
    "organization": _l("Organization"),
    "order": _l("Order"),
    "enrollment_code": _l("Code"),
    "user": _l("User"),
    "enrollment": _l("Enrollment"),
    "course_run": _l("Course run"),
    "course": _l("Course"),
    "program": _l("Program"),
    "background_job": _l("Job"),
    "api_token": _l("API token"),
    "organization_api_token": _l("Organization API token"),
    "membership": _l("Membership"),
    "report_subscription": _l("Report subscription"),
    "outbox_message": _l("Email"),
    "scheduled_run": _l("Scheduled run"),
    "seat": _l("Seat"),
    "refund": _l("Refund"),
}
LOADERS: dict[str, Callable[[list[int]], Iterable[NamedObject]]] = {
    "contract": _simple("contract", Contract.name, "staff.contract_detail", "contract_id"),
    "organization": _simple(
        "organization", Organization.name, "staff.organization_detail", "org_id"
    ),
    "order": _simple("order", Order.reference, "staff.order_detail", "reference", by_name=True),
    "enrollment_code": _codes,
    "user": _simple("user", User.email, "staff.users", "q", by_name=True),
    "enrollment": _enrollments,
    "course_run": _runs,
    "course": _simple("course", Course.title, "staff.course_edit", "course_id"),
    "program": _simple("program", Program.title, "staff.program_edit", "program_id"),
    "background_job": _jobs,
    "api_token": _simple("api_token", ApiToken.name, "staff.api_tokens"),
    "organization_api_token": _org_api_tokens,
    "membership": _memberships,
    "report_subscription": _subscriptions,
    "outbox_message": _messages,
    "scheduled_run": _scheduled_runs,
    "seat": _seats,
    "refund": _refunds,
}
# Types with no row to read: the name is all there is.
FIXED = {"portal": _l("The portal")}


class ObjectNames:
    """The names of a page's objects: ``want`` each, ``load`` once, then ``name`` any of them."""

    def __init__(self) -> None:
        self._wanted: dict[str, set[int]] = defaultdict(set)
        self._found: dict[tuple[str, str], NamedObject] = {}

    def want(self, object_type: str | None, object_id: object) -> None:
        key = _int_id(object_id)
        if object_type in LOADERS and key is not None:
            self._wanted[object_type].add(key)

    def load(self) -> ObjectNames:
        """Read every wanted object not read yet: one SELECT per type."""
        for object_type, ids in sorted(self._wanted.items()):
            todo = sorted(i for i in ids if (object_type, str(i)) not in self._found)
            if todo:
                for named in LOADERS[object_type](todo):
                    self._found[(object_type, str(named.id))] = named
        self._wanted.clear()
        return self

    def name(self, object_type: str, object_id: object) -> NamedObject:
        if object_type in FIXED:
            return NamedObject(object_type, None, str(FIXED[object_type]))
        key = _int_id(object_id)
        found = self._found.get((object_type, str(key))) if key is not None else None
        return found or missing(object_type, object_id)


def _int_id(value: object) -> int | None:
    """An object id as stored (an integer, or its digits in a string column), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value) or None
    return None
