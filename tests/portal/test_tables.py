"""Every list page sorts by its columns, keeps its filters and sort in the URL, and numbers its pages
(``core.sorting``, ``core.pagination``, ``templates/_table.html``, ``templates/_pager.html``).

Each list is a ``Case``: a builder that makes a few rows whose order by one sort key is known, the
page's address, and how its rows are marked in the HTML. The same checks run on every case:
sorting both ways orders the rows, the sorted header says so (``aria-sort`` and an arrow), an
unknown sort falls back to the list's default, and the header links keep the filters.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.core.pagination import Page
from portal.core.sorting import Sort, Sorting
from portal.models import (
    AuditEvent,
    BackgroundJob,
    JobState,
    MembershipType,
    Notice,
    NoticeKind,
    OrderState,
    OutboxMessage,
    User,
    utcnow,
)
from tests.support.factories import (
    ContractFactory,
    EnrollmentCodeFactory,
    OrderFactory,
    OrganizationFactory,
    SeatFactory,
    UserFactory,
)
from tests.support.org_world import OrgWorld
from tests.support.sessions import sign_in

NOW = utcnow()
DAY = dt.timedelta(days=1)


def markers(page: str, attr: str) -> list[str]:
    """The values of ``attr`` on the page's rows, in order (``data-order="B2B-1"`` ...)."""
    return re.findall(rf'{attr}="([^"]+)"', page)


def header(page: str, key: str) -> str:
    found = re.search(rf'<th[^>]*data-sort-key="{key}"[^>]*>.*?</th>', page, re.S)
    assert found, f"no sortable header {key!r}"
    return found.group(0)


def links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)]


@dataclass
class Case:
    """A list: who looks (``who(world)``), where (``url(world)``), how its rows are marked, and
    ``build(world)``: rows whose markers, in the order of ``key`` ascending, it returns."""

    who: Callable[[OrgWorld], User]
    url: Callable[[OrgWorld], str]
    attr: str
    key: str
    build: Callable[[OrgWorld], list[str]]


def _users(w: OrgWorld) -> list[str]:
    made = [UserFactory(email=f"sorted-{n.lower()}@t.example", name=n) for n in ("cy", "Al", "bo")]
    w.db.session.flush()
    by_name = sorted(made, key=lambda u: u.name.lower())
    return [str(u.id) for u in by_name]


def _organizations(w: OrgWorld) -> list[str]:
    made = [OrganizationFactory(name=f"Sorted {n}", key=f"SORT{n}") for n in ("C", "A", "B")]
    w.db.session.flush()
    return [str(o.id) for o in sorted(made, key=lambda o: o.name)]


def _contracts(w: OrgWorld) -> list[str]:
    org = OrganizationFactory(name="Sortco", key="SORTCO")
    made = [ContractFactory(organization=org, name=f"Sortco {n}") for n in ("b", "c", "a")]
    w.db.session.flush()
    return [str(c.id) for c in sorted(made, key=lambda c: c.name)]


def _jobs(w: OrgWorld) -> list[str]:
    made = [BackgroundJob(kind=k, payload={}) for k in ("system.ping", "email.send", "codes.x")]
    w.db.session.add_all(made)
    w.db.session.flush()
    return [f"job-{j.id}" for j in sorted(made, key=lambda j: j.kind)]


def _audit(w: OrgWorld) -> list[str]:
    made = [
        AuditEvent(action=a, object_type="sorted", object_id="1", actor_kind="system")
        for a in ("zeta.done", "alpha.done", "mid.done")
    ]
    w.db.session.add_all(made)
    w.db.session.flush()
    return [str(e.id) for e in sorted(made, key=lambda e: e.action)]


def _orders(w: OrgWorld, user: User | None = None, refund_due: bool = False) -> list[str]:
    made = []
    for n, total in enumerate(("30.00", "10.00", "20.00")):
        order = OrderFactory(
            reference=f"B2B-SORT{n}",
            user=user or w.lee,
            contract=w.seats,
            total=Decimal(total),
            state=OrderState.FULFILLED,
            created_at=NOW - n * DAY,
        )
        if refund_due:
            order.refund_due_at = NOW - n * DAY
            order.refund_reason = "late"
        made.append(order)
    w.db.session.flush()
    return [o.reference for o in sorted(made, key=lambda o: o.total)]


def _outbox(w: OrgWorld) -> list[str]:
    made = [
        OutboxMessage(to_email=f"{n}@sorted.example", subject=n, body_text="x")
        for n in ("c", "a", "b")
    ]
    w.db.session.add_all(made)
    w.db.session.flush()
    return [str(m.id) for m in sorted(made, key=lambda m: m.to_email)]


def _learners(w: OrgWorld) -> list[str]:
    made = [
        SeatFactory(contract=w.seats, user=UserFactory(name=n, email=f"{n.lower()}@l.example"))
        for n in ("Cleo", "abe", "Bea")
    ]
    SeatFactory(contract=w.other, user=UserFactory(name="Aaron Globex"))  # never listed
    w.db.session.flush()
    return [str(s.id) for s in sorted(made, key=lambda s: s.user.name.lower())]


def _codes(w: OrgWorld) -> list[str]:
    made = [
        EnrollmentCodeFactory(
            contract=w.seats, code=f"SORTCODE{n.upper()}", assigned_email=f"{n}@c.example"
        )
        for n in ("c", "a", "b")
    ]
    EnrollmentCodeFactory(contract=w.other, code="SORTCODEGLOBEX", assigned_email="a@g.example")
    w.db.session.flush()
    return [str(c.id) for c in sorted(made, key=lambda c: c.assigned_email or "")]


def _notices(w: OrgWorld) -> list[str]:
    made = [
        Notice(
            kind=NoticeKind.SEATS_USED,
            subject_type="contract",
            subject_id=w.seats.id,
            recipient=f"{n}@n.example",
            key=n,
            organization_id=w.acme.id,
        )
        for n in ("c", "a", "b")
    ]
    w.db.session.add_all(made)
    w.db.session.add(
        Notice(
            kind=NoticeKind.SEATS_USED,
            subject_type="contract",
            subject_id=w.other.id,
            recipient="aaa@globex.example",
            key="globex",
            organization_id=w.globex.id,
        )
    )
    w.db.session.flush()
    return [str(n.id) for n in sorted(made, key=lambda n: n.recipient)]


def staff(w: OrgWorld) -> User:
    return w.staff


def grace(w: OrgWorld) -> User:
    return w.grace


CASES = {
    "staff users": Case(staff, lambda w: "/staff/users?q=sorted-", "data-user", "name", _users),
    "staff organizations": Case(
        staff,
        lambda w: "/staff/organizations?q=sorted",
        "data-organization",
        "name",
        _organizations,
    ),
    "staff contracts": Case(
        staff, lambda w: "/staff/contracts?q=sortco", "data-contract", "name", _contracts
    ),
    "staff jobs": Case(staff, lambda w: "/staff/jobs", "id", "kind", _jobs),
    "staff audit": Case(
        staff, lambda w: "/staff/audit?object_type=sorted", "data-event", "action", _audit
    ),
    "staff orders": Case(staff, lambda w: "/staff/orders?q=sort", "data-order", "total", _orders),
    "staff refunds": Case(
        staff,
        lambda w: "/staff/refunds",
        "data-order",
        "amount",
        lambda w: _orders(w, refund_due=True),
    ),
    "learner orders": Case(
        lambda w: w.lee, lambda w: "/learner/orders", "data-order", "total", _orders
    ),
    "outbox": Case(staff, lambda w: "/outbox/", "data-message", "to", _outbox),
    "org admin learners": Case(
        grace, lambda w: "/org/ACME/learners", "data-seat", "name", _learners
    ),
    "org admin codes": Case(
        grace,
        lambda w: f"/org/ACME/contracts/{w.seats.id}/codes?status=all",
        "data-code",
        "assigned",
        _codes,
    ),
    "org admin notices": Case(
        grace, lambda w: "/org/ACME/notices", "data-notice", "recipient", _notices
    ),
}


def _with(url: str, **args: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in args.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def _rows(client: FlaskClient, case: Case, url: str, expected: list[str]) -> tuple[list[str], str]:
    response = client.get(url)
    assert response.status_code == 200, url
    page = response.get_data(as_text=True)
    found = [m for m in markers(page, case.attr) if m in expected]
    return found, page


@pytest.mark.parametrize("name", CASES)
def test_each_list_sorts_both_ways_and_says_so(
    client: FlaskClient, world: OrgWorld, name: str
) -> None:
    case = CASES[name]
    expected = case.build(world)
    world.db.session.commit()
    sign_in(client, case.who(world))
    url = case.url(world)

    ascending, page = _rows(client, case, _with(url, sort=case.key), expected)
    assert ascending == expected, name
    th = header(page, case.key)
    assert 'aria-sort="ascending"' in th and "▲" in th
    assert page.count("aria-sort=") == 1  # only the sorted column

    descending, page = _rows(client, case, _with(url, sort=f"-{case.key}"), expected)
    assert descending == expected[::-1], name
    th = header(page, case.key)
    assert 'aria-sort="descending"' in th and "▼" in th
    # The sorted header switches the direction, keeps the view's filters and opens page 1.
    href = html.unescape(re.search(r'href="([^"]+)"', th).group(1))  # type: ignore[union-attr]
    assert "page=" not in href and f"sort=-{case.key}" not in href
    for arg in url.partition("?")[2].split("&"):
        if arg:
            assert arg in href, (arg, href)
    again, _ = _rows(client, case, href.partition("#")[0], expected)
    assert again == expected


@pytest.mark.parametrize("name", CASES)
def test_an_unknown_sort_falls_back_to_the_default(
    client: FlaskClient, world: OrgWorld, name: str
) -> None:
    case = CASES[name]
    expected = case.build(world)
    world.db.session.commit()
    sign_in(client, case.who(world))
    url = case.url(world)
    default, _ = _rows(client, case, url, expected)
    for bad in ("nonsense", "--name", "-", "name;drop", "x" * 500, "id%20desc", "%E2%96%B2"):
        found, _ = _rows(client, case, _with(url, sort=bad), expected)
        assert found == default, (name, bad)
    bad_page = client.get(_with(url, page="-3"))
    assert bad_page.status_code == 200


def test_the_window_of_page_numbers() -> None:
    def window(page: int, total: int) -> list[int | None]:
        return Page([], page, 50, False, total=total).window()

    assert window(6, 1000) == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert window(1, 1000) == [1, 2, 3, None, 20]
    assert window(20, 1000) == [1, None, 18, 19, 20]
    assert window(4, 350) == [1, 2, 3, 4, 5, 6, 7]  # a gap of one page shows the page
    assert window(1, 10) == [1]
    assert Page([], 1, 50, True).window() == []  # no total, no numbers


def test_a_sort_key_is_read_from_a_whitelist() -> None:
    sorting = Sorting({"name": User.name, "seen": User.last_login_at}, "name", User.id, {"seen"})
    assert [sorting.key(v) for v in ("name", "-name", "seen", "-seen")] == [
        "name",
        "-name",
        "seen",
        "-seen",
    ]
    for bad in (None, "", "email", "--name", "name ", " -x", "Name", "name,id", "-" * 50):
        assert sorting.key(bad) in ("name",), bad
    sort = Sort(sorting, "name")
    assert sort.toggled("name") == "-name" and sort.toggled("seen") == "-seen"
    assert Sort(sorting, "-name").toggled("name") == "name"
    assert sort.aria("name") == "ascending" and sort.aria("seen") is None
    assert sort.args() == {} and Sort(sorting, "-seen").args() == {"sort": "-seen"}
    # A header link: the route's arguments, the filters without empty ones, the new sort, no page.
    assert Sort(sorting, "-seen").link_args("name", {"q": "a", "state": "", "sort": "-seen"}) == {
        "q": "a"
    }
    assert sort.link_args("seen", {"q": "a"}, {"org_key": "ACME"}) == {
        "org_key": "ACME",
        "q": "a",
        "sort": "-seen",
    }


def test_the_pager_numbers_pages_and_keeps_the_view(
    client: FlaskClient, world: OrgWorld, db: Any
) -> None:
    for n in range(120):
        UserFactory(email=f"paged-{n:03d}@t.example", name=f"Paged {n:03d}")
    db.session.commit()
    sign_in(client, world.staff)
    page = client.get("/staff/users?q=paged-&sort=-name&page=2").get_data(as_text=True)
    assert "Page 2 of 3 · 51\u2013100 of 120" in page
    assert 'aria-current="page"' in page and 'data-page="2"' in page
    hrefs = [h for h in links(page) if h.startswith("/staff/users?")]
    for number in ("1", "3"):
        assert any(f"page={number}" in h and "q=paged-" in h and "sort=-name" in h for h in hrefs)
    for rel in ("first", "prev", "next", "last"):
        assert f'rel="{rel}"' in page
    names = re.findall(r"<td>paged-(\d{3})@t\.example</td>", page)
    assert names == [f"{n:03d}" for n in range(69, 19, -1)]  # -name: 119 to 070 were page 1
    last = client.get("/staff/users?q=paged-&sort=-name&page=3").get_data(as_text=True)
    assert "Page 3 of 3 · 101\u2013120 of 120" in last and 'rel="next"' not in last
    # Past the end: nothing listed, and "Previous" leads to the last page.
    past = client.get("/staff/users?q=paged-&page=40").get_data(as_text=True)
    assert "paged-0" not in past
    previous = re.search(r'href="([^"]+)" rel="prev"', past)
    assert previous and html.unescape(previous.group(1)) == "/staff/users?q=paged-&page=3"


def test_contracts_search_and_filter_by_organization_state_and_type(
    client: FlaskClient, world: OrgWorld, db: Any
) -> None:
    org = OrganizationFactory(name="Filterco", key="FILTERCO")
    off = OrganizationFactory(name="Offco", key="OFFCO", active=False)
    made = {
        "live": ContractFactory(organization=org, name="Live one"),
        "upcoming": ContractFactory(organization=org, name="Soon", start_at=NOW + 9 * DAY),
        "ended": ContractFactory(
            organization=org, name="Past", start_at=NOW - 9 * DAY, end_at=NOW - DAY
        ),
        "inactive": ContractFactory(organization=org, name="Switched off", active=False),
        "org off": ContractFactory(organization=off, name="Filterco partner"),
        "auto": ContractFactory(
            organization=org, name="Everyone", membership_type=MembershipType.AUTO
        ),
    }
    db.session.commit()
    sign_in(client, world.staff)

    def listed(query: str) -> set[str]:
        response = client.get(f"/staff/contracts?{query}")
        assert response.status_code == 200, query
        ids = set(markers(response.get_data(as_text=True), "data-contract"))
        return {name for name, c in made.items() if str(c.id) in ids}

    assert listed("q=filterco") == set(made)  # the organization's name or the contract's
    assert listed("q=SOON") == {"upcoming"}
    assert listed(f"organization={org.id}") == set(made) - {"org off"}
    assert listed(f"organization={org.id}&state=live") == {"live", "auto"}
    assert listed("q=filterco&state=upcoming") == {"upcoming"}
    assert listed("q=filterco&state=ended") == {"ended"}
    assert listed("q=filterco&state=inactive") == {"inactive", "org off"}
    assert listed(f"organization={org.id}&type=auto") == {"auto"}
    # The state shown is Contract.not_live_reason's, the same rule as the filter.
    page = client.get("/staff/contracts?q=filterco&sort=name").get_data(as_text=True)
    for state in ("live", "upcoming", "ended", "inactive"):
        for name in listed(f"q=filterco&state={state}"):
            row = re.search(rf'data-contract="{made[name].id}".*?</tr>', page, re.S)
            assert row and f'data-state="{state}"' in row.group(0), (name, state)
    # Sorting keeps the filters; bad filter values are a 400 that says why.
    header_links = links(header(page, "seats"))
    assert any("q=filterco" in h and "sort=-seats" in h for h in header_links)
    for query, message in [
        ("state=gone", "Unknown contract state"),
        ("type=sso", "Unknown membership type"),
        ("organization=acme", "Choose an organization from the list"),
    ]:
        response = client.get(f"/staff/contracts?{query}")
        assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_contracts_sort_by_seats_and_dates(client: FlaskClient, world: OrgWorld, db: Any) -> None:
    org = OrganizationFactory(name="Seatco", key="SEATCO")
    few = ContractFactory(organization=org, name="Few", start_at=NOW - 5 * DAY)
    many = ContractFactory(organization=org, name="Many", start_at=NOW - 9 * DAY)
    none = ContractFactory(organization=org, name="None")  # no start date: listed last
    for _ in range(3):
        SeatFactory(contract=many)
    SeatFactory(contract=few)
    db.session.commit()
    sign_in(client, world.staff)

    def order(sort: str) -> list[int]:
        page = client.get(f"/staff/contracts?organization={org.id}&sort={sort}")
        return [int(m) for m in markers(page.get_data(as_text=True), "data-contract")]

    assert order("-seats") == [many.id, few.id, none.id]
    assert order("seats") == [none.id, few.id, many.id]
    # No start date is "since always": first when sorting by start, earliest first.
    assert order("start") == [none.id, many.id, few.id]
    assert order("-start") == [few.id, many.id, none.id]


def test_the_jobs_filter_form_and_pager_keep_the_sort(
    client: FlaskClient, world: OrgWorld, db: Any
) -> None:
    db.session.add_all(
        BackgroundJob(kind="system.ping", payload={}, state=JobState.FAILED) for _ in range(55)
    )
    db.session.commit()
    sign_in(client, world.staff)
    page = client.get("/staff/jobs?state=failed&sort=kind").get_data(as_text=True)
    assert '<input type="hidden" name="sort" value="kind">' in page
    assert any("state=failed" in h and "sort=kind" in h and "page=2" in h for h in links(page))
    assert "Page 1 of 2 · 1\u201350 of 55" in page


def test_an_org_admin_never_sees_another_organizations_rows_in_any_order(
    client: FlaskClient, world: OrgWorld, db: Any
) -> None:
    ours = _learners(world)
    codes = _codes(world)
    db.session.commit()
    sign_in(client, world.grace)
    for sort in ("name", "-name", "claimed", "-claimed", "status", "-progress", "email"):
        page = client.get(f"/org/ACME/learners?status=all&sort={sort}").get_data(as_text=True)
        assert "Aaron Globex" not in page and set(ours) <= set(markers(page, "data-seat"))
    for sort in ("code", "-assigned", "used", "-created", "assigned_at"):
        page = client.get(
            f"/org/ACME/contracts/{world.seats.id}/codes?status=all&sort={sort}"
        ).get_data(as_text=True)
        assert "a@g.example" not in page and set(codes) <= set(markers(page, "data-code"))
    other = client.get(f"/org/ACME/contracts/{world.other.id}/codes?sort=code")
    assert other.status_code == 404


def test_a_learner_sees_only_their_own_orders_in_any_order(
    client: FlaskClient, world: OrgWorld, db: Any
) -> None:
    someone = UserFactory(email="someone@else.example")
    OrderFactory(reference="B2B-NOTYOURS", user=someone, contract=world.seats, total=Decimal(1))
    mine = _orders(world)
    db.session.commit()
    sign_in(client, world.lee)
    for sort in ("total", "-total", "reference", "-created", "state", "contract"):
        page = client.get(f"/learner/orders?sort={sort}").get_data(as_text=True)
        assert "B2B-NOTYOURS" not in page and set(markers(page, "data-order")) == set(mine)


def test_every_list_names_its_actions_column(app: Flask) -> None:
    """No empty header cell (axe-core's "empty-table-header") in the list templates."""
    templates = [
        "org_admin/learners.html",
        "org_admin/codes.html",
        "org_admin/notices.html",
        "staff/jobs/list.html",
        "staff/audit/list.html",
        "staff/contracts/list.html",
        "staff/orders/list.html",
        "staff/refunds/list.html",
        "staff/organizations/list.html",
        "staff/users.html",
        "learner/orders.html",
        "outbox/index.html",
    ]
    for name in templates:
        source = app.jinja_env.loader.get_source(app.jinja_env, name)[0]  # type: ignore[union-attr]
        assert not re.search(r"<th[^>]*>\s*</th>", source), name
