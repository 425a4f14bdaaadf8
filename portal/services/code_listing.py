"""Reading a contract's codes: the count per status, the org admin's codes table (by status, or a
search across every status) and staff's code search (b2b-rules section 5).

A code's status is ``EnrollmentCode.status``, one rule for Python and SQL, so the counts and the
lists filtered by status always agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Select, func, or_, select

from portal.core.pagination import Page, paginate
from portal.core.sorting import Sort, Sorting
from portal.extensions import db
from portal.models import CodeRedemption, Contract, EnrollmentCode, User
from portal.models.codes import CodeStatus
from portal.services.codes import normalize_code

ALL = "all"
CODE_STATUSES = (*(status.value for status in CodeStatus), ALL)
REDEEMERS_SHOWN = 3
MAX_QUERY = 320
_STATUSES = frozenset(status.value for status in CodeStatus)


def code_counts(contract: Contract) -> dict[str, int]:
    """How many of the contract's codes are in each status (every status present), one query."""
    statuses = (
        select(EnrollmentCode.status.label("status"))
        .where(EnrollmentCode.contract_id == contract.id)
        .subquery()
    )
    counts = {status.value: 0 for status in CodeStatus}
    for status, count in db.session.execute(
        select(statuses.c.status, func.count()).group_by(statuses.c.status)
    ).all():
        counts[str(status)] = int(count)
    return counts


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matching(q: str) -> ColumnElement[bool] | None:
    """Codes whose code (as typed: any case, spaces and dashes ignored) or assigned email contains
    ``q``; None for an empty ``q``."""
    q = (q or "").strip()[:MAX_QUERY]
    if not q:
        return None
    conditions = [EnrollmentCode.assigned_email.like(_like(q.lower()), escape="\\")]
    as_code = normalize_code(q)
    if as_code:
        conditions.append(EnrollmentCode.code.like(_like(as_code), escape="\\"))
    return or_(*conditions)


def _codes_of(contract: Contract, q: str) -> Select[EnrollmentCode]:
    query = select(EnrollmentCode).where(EnrollmentCode.contract_id == contract.id)
    match = matching(q)
    return query if match is None else query.where(match)


def search_codes(
    contract: Contract, q: str = "", *, page: int = 1, per_page: int = 50, param: str = "page"
) -> Page[EnrollmentCode]:
    """A page of the contract's codes of every status, newest first, matching ``q`` against the
    code or the assigned email (``matching``); the pager links keep ``q``."""
    query = _codes_of(contract, q).order_by(EnrollmentCode.id.desc())
    return paginate(query, page, per_page=per_page, scalars=True, param=param, args={"q": q})


# --------------------------------------------------------------------------- the codes table


@dataclass
class Redeemer:
    email: str
    name: str
    redeemed_at: dt.datetime


@dataclass
class CodeRow:
    code: EnrollmentCode
    redeemers: list[Redeemer]

    @property
    def status(self) -> CodeStatus:
        return self.code.status


# The org admin's codes table: newest first by default; the code, the address it went to (codes
# sent to no one last), when, and how often it was used.
CODE_SORTING = Sorting(
    columns={
        "created": EnrollmentCode.id,
        "code": EnrollmentCode.code,
        "assigned": (EnrollmentCode.assigned_email.is_(None), EnrollmentCode.assigned_email),
        "assigned_at": (EnrollmentCode.assigned_at.is_(None), EnrollmentCode.assigned_at),
        "used": EnrollmentCode.times_redeemed,
    },
    default="-created",
    tiebreak=EnrollmentCode.id,
    descending_first={"created", "assigned_at", "used"},
)


def status_filter(status: str) -> list[ColumnElement[bool]]:
    """The codes in ``status`` (one of ``CODE_STATUSES``; ``all`` and anything else: no filter)."""
    if status in _STATUSES:
        return [EnrollmentCode.status == str(status)]
    return []


def lists_all_statuses(status: str, q: str) -> bool:
    """A search looks across every status; without one, ``status`` picks the tab."""
    return bool((q or "").strip()) or status not in _STATUSES


def list_codes(
    contract: Contract,
    status: str,
    q: str,
    *,
    page: int = 1,
    per_page: int = 50,
    sort: Sort | None = None,
) -> Page[CodeRow]:
    """A page of the contract's codes in ``status``, or with a query ``q`` the codes of every
    status matching it (code or assigned email), in ``sort``'s order (newest first by default),
    each with up to three people who used it. The count, the page (a deferred join on the code
    id: a contract of 50,000 codes pages to the end cheaply) and the redeemers: three queries
    whatever the size; the pager and header links keep ``status``, ``q`` and the sort."""
    sort = sort or Sort(CODE_SORTING, CODE_SORTING.default)
    query = _codes_of(contract, q)
    if not lists_all_statuses(status, q):
        query = query.where(*status_filter(status))
    codes = paginate(
        sort.order(query),
        page,
        per_page=per_page,
        scalars=True,
        count=True,
        key=EnrollmentCode.id,
        args={"status": status, "q": q},
        sort=sort,
    )
    rows = [CodeRow(code, []) for code in codes.items]
    _add_redeemers(rows)
    return replace(codes, items=rows)


def _add_redeemers(rows: list[CodeRow]) -> None:
    """Up to ``REDEEMERS_SHOWN`` people who used each used code, first use first, in one query."""
    used = {row.code.id: row for row in rows if row.code.times_redeemed > 0}
    if not used:
        return
    ranked = (
        select(
            CodeRedemption.code_id,
            CodeRedemption.user_id,
            CodeRedemption.redeemed_at,
            func.row_number()
            .over(
                partition_by=CodeRedemption.code_id,
                order_by=(CodeRedemption.redeemed_at, CodeRedemption.id),
            )
            .label("n"),
        )
        .where(CodeRedemption.code_id.in_(used))
        .subquery()
    )
    for code_id, email, name, at in db.session.execute(
        select(ranked.c.code_id, User.email, User.name, ranked.c.redeemed_at)
        .join(User, User.id == ranked.c.user_id)
        .where(ranked.c.n <= REDEEMERS_SHOWN)
        .order_by(ranked.c.code_id, ranked.c.n)
    ).all():
        used[code_id].redeemers.append(Redeemer(email, name, at))
