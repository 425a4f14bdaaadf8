"""Staff's contracts list: a search (contract or organization name), filters (organization,
whether the contract is live, upcoming, ended or switched off, membership type) and a sort, all
in the URL so a view can be shared, in numbered pages.

"Live" is b2b-rules section 3 as ``Contract.not_live_reason`` states it, checked in its order: an
inactive organization or contract first (``inactive``), then not started (``upcoming``), then
ended (``ended``). ``STATE_CONDITIONS`` is that rule in SQL for the filter (``live`` is
``Contract.is_live_at`` itself); the rows show ``Contract.not_live_reason``, so a test keeps the
two in step.

A page is two statements whatever the number of contracts: the count and the page, with the
seats held (the running totals, ``services.seats``) and the runs as grouped subqueries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select

from portal.core.domain_errors import DomainError
from portal.core.pagination import Page, paginate
from portal.core.params import parse_id
from portal.core.sorting import Sort, Sorting
from portal.core.text import LazyText
from portal.core.text import lazy_gettext as _l
from portal.models import (
    Contract,
    ContractSeatDay,
    CourseRun,
    MembershipType,
    Organization,
    utcnow,
)
from portal.models.contracts import NotLive
from portal.services.seats import held_seats

MAX_QUERY = 200
TYPES = tuple(t.value for t in MembershipType)


def _active() -> ColumnElement[bool]:
    return and_(Contract.active.is_(True), Organization.active.is_(True))


def _started(at: dt.datetime) -> ColumnElement[bool]:
    return or_(Contract.start_at.is_(None), Contract.start_at <= at)


# The filter's states, each one ``Contract.not_live_reason``'s answer at ``at`` (see above).
STATE_CONDITIONS: dict[str, Callable[[dt.datetime], Any]] = {
    "live": lambda at: Contract.is_live_at(at),
    "upcoming": lambda at: and_(_active(), Contract.start_at > at),
    "ended": lambda at: and_(_active(), _started(at), Contract.end_at <= at),
    "inactive": lambda at: not_(_active()),
}
STATES = tuple(STATE_CONDITIONS)
STATE_OF_REASON = {
    None: "live",
    NotLive.NOT_STARTED: "upcoming",
    NotLive.ENDED: "ended",
    NotLive.CONTRACT_INACTIVE: "inactive",
    NotLive.ORGANIZATION_INACTIVE: "inactive",
}

_seats = (
    select(ContractSeatDay.contract_id, held_seats().label("claimed"))
    .group_by(ContractSeatDay.contract_id)
    .subquery()
)
_runs = (
    select(CourseRun.contract_id, func.count(CourseRun.id).label("runs"))
    .group_by(CourseRun.contract_id)
    .subquery()
)
CLAIMED = func.coalesce(_seats.c.claimed, 0)
RUNS = func.coalesce(_runs.c.runs, 0)

CONTRACT_SORTING = Sorting(
    columns={
        "organization": (func.lower(Organization.name), func.lower(Contract.name)),
        "name": func.lower(Contract.name),
        "type": Contract.membership_type,
        "seats": CLAIMED,
        "runs": RUNS,
        # An open start is "since always", an open end "until further notice": each sorts
        # beyond every date on its side, the same on both databases.
        "start": (Contract.start_at.is_not(None), Contract.start_at),
        "end": (Contract.end_at.is_(None), Contract.end_at),
    },
    default="organization",
    tiebreak=Contract.id,
    descending_first={"seats", "runs"},
)


# The refusals of a filter value that names nothing; the choices are the URL's own values.
UNKNOWN_STATE = _l("Unknown contract state %(value)s; choose one of: %(choices)s.")
UNKNOWN_TYPE = _l("Unknown membership type %(value)s; choose one of: %(choices)s.")


def _choice(args: Mapping[str, Any], name: str, allowed: tuple[str, ...], unknown: LazyText) -> str:
    value = str(args.get(name) or "").strip()
    if value and value not in allowed:
        words = str(unknown) % {"value": repr(value[:40]), "choices": ", ".join(allowed)}
        raise DomainError(words, code="bad_filter")
    return value


@dataclass(frozen=True)
class ContractFilter:
    q: str = ""
    organization_id: int | None = None
    state: str = ""
    membership_type: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> ContractFilter:
        """From query-string values; a value that names nothing is a 400 with the reason."""
        raw_org = str(args.get("organization") or "").strip()
        organization_id = parse_id(raw_org) if raw_org else None
        if raw_org and organization_id is None:
            raise DomainError(
                _(
                    "Choose an organization from the list (not %(value)s).",
                    value=repr(raw_org[:40]),
                ),
                code="bad_filter",
            )
        return cls(
            q=str(args.get("q") or "").strip()[:MAX_QUERY],
            organization_id=organization_id,
            state=_choice(args, "state", STATES, UNKNOWN_STATE),
            membership_type=_choice(args, "type", TYPES, UNKNOWN_TYPE),
        )

    def args(self) -> dict[str, Any]:
        values = {
            "q": self.q,
            "organization": self.organization_id,
            "state": self.state,
            "type": self.membership_type,
        }
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class ContractRow:
    contract: Contract
    organization: Organization
    claimed: int
    runs: int
    state: str  # live, upcoming, ended or inactive


def _query(flt: ContractFilter, at: dt.datetime) -> Select[Any]:
    query = cast(
        "Select[Any]",
        select(Contract, Organization, CLAIMED.label("claimed"), RUNS.label("runs"))
        .join(Organization, Contract.organization_id == Organization.id)
        .outerjoin(_seats, _seats.c.contract_id == Contract.id)
        .outerjoin(_runs, _runs.c.contract_id == Contract.id),
    )
    if flt.q:
        text = flt.q.lower()
        query = query.where(
            or_(
                func.lower(Contract.name).contains(text, autoescape=True),
                func.lower(Organization.name).contains(text, autoescape=True),
            )
        )
    if flt.organization_id:
        query = query.where(Contract.organization_id == flt.organization_id)
    if flt.state:
        query = query.where(STATE_CONDITIONS[flt.state](at))
    if flt.membership_type:
        query = query.where(Contract.membership_type == MembershipType(flt.membership_type))
    return query


def contracts_page(
    flt: ContractFilter, page: int, sort: Sort, at: dt.datetime | None = None
) -> Page[ContractRow]:
    """A page of the contracts in ``flt``'s view, in ``sort``'s order, with their state now."""
    at = at or utcnow()
    found = paginate(sort.order(_query(flt, at)), page, count=True, args=flt.args(), sort=sort)
    found.items = [
        ContractRow(
            contract=contract,
            organization=org,
            claimed=int(claimed),
            runs=int(runs),
            state=STATE_OF_REASON[contract.not_live_reason(at, org)],
        )
        for contract, org, claimed, runs in found.items
    ]
    return found
