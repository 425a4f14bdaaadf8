"""Every list page runs the same number of SQL statements whatever the number of rows, on its first
page and a deep one, in any sort: a few rows against a few pages of them, and the org admin's
learners and codes at 50,000 (``core.pagination``'s deferred join keeps the last page cheap)."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert

from portal.models import (
    AuditEvent,
    BackgroundJob,
    Contract,
    EnrollmentCode,
    MembershipType,
    Notice,
    NoticeKind,
    Order,
    OrderState,
    Organization,
    OutboxMessage,
    RedemptionType,
    User,
    utcnow,
)
from tests.support.org_world import OrgWorld, bulk_learners
from tests.support.sessions import sign_in

Grow = Callable[[OrgWorld, int, int], None]


def _users(w: OrgWorld, start: int, n: int) -> None:
    rows = [{"email": f"perf-{k}@t.example", "name": f"Perf {k}"} for k in range(start, start + n)]
    w.db.session.execute(insert(User), rows)


def _organizations(w: OrgWorld, start: int, n: int) -> None:
    rows = [{"name": f"Perf {k}", "key": f"PERF{k}"} for k in range(start, start + n)]
    w.db.session.execute(insert(Organization), rows)


def _contracts(w: OrgWorld, start: int, n: int) -> None:
    rows = [
        {
            "organization_id": w.acme.id,
            "name": f"Perf {k}",
            "slug": f"perf-{k}",
            "membership_type": MembershipType.CODE,
            "seat_limit": 5,
        }
        for k in range(start, start + n)
    ]
    w.db.session.execute(insert(Contract), rows)


def _jobs(w: OrgWorld, start: int, n: int) -> None:
    w.db.session.execute(insert(BackgroundJob), [{"kind": "system.ping", "payload": {}}] * n)


def _audit(w: OrgWorld, start: int, n: int) -> None:
    rows = [
        {"action": "perf.done", "object_type": "user", "object_id": str(w.lee.id)} for _ in range(n)
    ]
    w.db.session.execute(insert(AuditEvent), rows)


def _orders(w: OrgWorld, start: int, n: int, **values: Any) -> None:
    rows = [
        {
            "reference": f"B2B-PERF{k:06d}",
            "user_id": w.lee.id,
            "contract_id": w.seats.id,
            "total": Decimal(k % 90),
            "state": OrderState.FULFILLED,
            **values,
        }
        for k in range(start, start + n)
    ]
    w.db.session.execute(insert(Order), rows)


def _refunds(w: OrgWorld, start: int, n: int) -> None:
    _orders(w, start, n, refund_due_at=utcnow(), refund_reason="late")


def _outbox(w: OrgWorld, start: int, n: int) -> None:
    rows = [{"to_email": f"p{k}@t.example", "subject": "s", "body_text": "b"} for k in range(n)]
    w.db.session.execute(insert(OutboxMessage), rows)


def _learners(w: OrgWorld, start: int, n: int) -> None:
    bulk_learners(w.seats, w.run, n, prefix=f"perf{start}")


def _codes(w: OrgWorld, start: int, n: int) -> None:
    for offset in range(0, n, 5000):
        rows = [
            {
                "code": f"PERF{k:010d}",
                "contract_id": w.seats.id,
                "redemption_type": RedemptionType.ONE_TIME,
                "max_uses": 1,
            }
            for k in range(start + offset, start + min(n, offset + 5000))
        ]
        w.db.session.execute(insert(EnrollmentCode), rows)


def _notices(w: OrgWorld, start: int, n: int) -> None:
    rows = [
        {
            "kind": NoticeKind.SEATS_USED,
            "subject_type": "contract",
            "subject_id": w.seats.id,
            "recipient": f"n{k}@t.example",
            "key": f"perf-{k}",
            "organization_id": w.acme.id,
        }
        for k in range(start, start + n)
    ]
    w.db.session.execute(insert(Notice), rows)


def staff(w: OrgWorld) -> User:
    return w.staff


LISTS: dict[str, tuple[Callable[[OrgWorld], User], Callable[[OrgWorld], str], Grow]] = {
    "staff users": (staff, lambda w: "/staff/users?q=perf", _users),
    "staff organizations": (staff, lambda w: "/staff/organizations", _organizations),
    "staff contracts": (staff, lambda w: "/staff/contracts?state=live", _contracts),
    "staff jobs": (staff, lambda w: "/staff/jobs?kind=system.ping", _jobs),
    "staff audit": (staff, lambda w: "/staff/audit?action=perf", _audit),
    "staff orders": (staff, lambda w: "/staff/orders?state=fulfilled", _orders),
    "staff refunds": (staff, lambda w: "/staff/refunds", _refunds),
    "learner orders": (lambda w: w.lee, lambda w: "/learner/orders", _orders),
    "outbox": (staff, lambda w: "/outbox/", _outbox),
    "org admin learners": (lambda w: w.grace, lambda w: "/org/ACME/learners", _learners),
    "org admin codes": (
        lambda w: w.grace,
        lambda w: f"/org/ACME/contracts/{w.seats.id}/codes?status=unused",
        _codes,
    ),
    "org admin notices": (lambda w: w.grace, lambda w: "/org/ACME/notices", _notices),
}
SORTS = {
    "staff users": "-signed_in",
    "staff organizations": "-members",
    "staff contracts": "-seats",
    "staff jobs": "kind",
    "staff audit": "actor",
    "staff orders": "-total",
    "staff refunds": "amount",
    "learner orders": "contract",
    "outbox": "to",
    "org admin learners": "-progress",
    "org admin codes": "assigned",
    "org admin notices": "recipient",
}


def statements(client: FlaskClient, user: User, path: str, count_queries: Any) -> int:
    sign_in(client, user)
    client.get(path)  # warm up
    sign_in(client, user)
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200, path
    return int(counter.count)


def _paths(base: str, sort: str, page: int) -> list[str]:
    join = "&" if "?" in base else "?"
    return [base, f"{base}{join}sort={sort}", f"{base}{join}sort={sort}&page={page}"]


@pytest.mark.parametrize("name", LISTS)
def test_a_list_runs_the_same_statements_at_3_and_at_160_rows(
    client: FlaskClient, world: OrgWorld, count_queries: Any, name: str
) -> None:
    who, url, grow = LISTS[name]
    grow(world, 0, 3)
    world.db.session.commit()
    user, base = who(world), url(world)
    small = [statements(client, user, p, count_queries) for p in _paths(base, SORTS[name], 1)]
    grow(world, 3, 157)
    world.db.session.commit()
    deep = _paths(base, SORTS[name], 3)  # the last page of 160 (50 a page; notices: 25)
    large = [statements(client, user, p, count_queries) for p in deep]
    assert small == large, (name, small, large)
    assert max(large) <= 12, (name, large)


@pytest.mark.parametrize("name", ["org admin learners", "org admin codes"])
def test_the_last_page_of_50000_rows_runs_the_statements_of_the_first_of_10(
    client: FlaskClient, world: OrgWorld, count_queries: Any, name: str
) -> None:
    who, url, grow = LISTS[name]
    grow(world, 0, 10)
    world.db.session.commit()
    user, base = who(world), url(world)
    join = "&" if "?" in base else "?"
    paths = [base, f"{base}{join}sort={SORTS[name]}"]
    small = [statements(client, user, p, count_queries) for p in paths]
    grow(world, 10, 49_990)
    world.db.session.commit()
    last = [f"{base}{join}page=1000", f"{base}{join}sort={SORTS[name]}&page=1000"]
    started = time.monotonic()
    large = [statements(client, user, p, count_queries) for p in last]
    elapsed = time.monotonic() - started
    assert small == large, (small, large)
    sign_in(client, user)
    page = client.get(last[0]).get_data(as_text=True)
    total = int(re.search(r'data-total="(\d+)"', page).group(1))  # type: ignore[union-attr]
    assert 50_000 <= total < 50_050  # the world's own rows besides
    pages = -(-total // 50)
    assert f"Page 1,000 of {pages:,} · 49,951\u2013{min(total, 50_000):,} of {total:,}" in page
    assert elapsed < 60, elapsed  # four requests of the last page (with warm-ups), not minutes


@pytest.mark.parametrize("name", LISTS)
def test_each_lists_numbered_pager_keeps_its_filters_and_sort(
    client: FlaskClient, world: OrgWorld, name: str
) -> None:
    who, url, grow = LISTS[name]
    grow(world, 0, 160)
    world.db.session.commit()
    base, sort = url(world), SORTS[name]
    join = "&" if "?" in base else "?"
    sign_in(client, who(world))
    page = client.get(f"{base}{join}sort={sort}&page=2").get_data(as_text=True)
    assert re.search(r"Page 2 of [\d,]+ · ", page), name
    assert 'aria-current="page"' in page
    pager = page[page.index('<nav class="pager"') :]
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', pager.split("</nav>")[0])]
    wanted = [a for a in base.partition("?")[2].split("&") if a] + [f"sort={sort}"]
    for rel in ("first", "prev", "next", "last"):
        link = re.search(rf'href="([^"]+)"[^>]*rel="{rel}"', pager)
        assert link, (name, rel)
        for arg in wanted:
            assert arg in html.unescape(link.group(1)), (name, rel, arg)
    assert all(all(arg in h for arg in wanted) for h in hrefs), (name, hrefs)
