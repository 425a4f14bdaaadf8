"""A code's status has one definition, ``EnrollmentCode.status`` (used > deactivated > assigned >
unused), read the same way by the org admin's tiles and status tabs, the codes table's rows and the
staff contract page; and a search on the codes page looks across every status."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import product
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.core.text import group_code
from portal.models import EnrollmentCode, utcnow
from portal.models.codes import CodeStatus
from portal.services import code_listing
from portal.services.locks import lock_contract
from portal.services.seat_codes import deactivate_code
from tests.support.factories import EnrollmentCodeFactory, UserFactory
from tests.support.org_world import OrgWorld
from tests.support.world import redeem

STATUSES = [status.value for status in CodeStatus]


@pytest.fixture
def world(db: Any) -> OrgWorld:
    return OrgWorld(db)


def _codes_url(world: OrgWorld, query: str = "") -> str:
    return f"/org/ACME/contracts/{world.seats.id}/codes{query}"


def _text(response: Any) -> str:
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def _tiles(page: str) -> dict[str, int]:
    found = re.findall(r'data-count="(\w+)">([\d,]+)<', page)
    return {status: int(count.replace(",", "")) for status, count in found}


def _listed(page: str) -> dict[int, str]:
    """The codes table's rows: code id -> the status its badge shows."""
    rows = re.findall(r'<tr data-code="(\d+)">.*?<span class="badge[^"]*">(\w+)</span>', page, re.S)
    return {int(code_id): status for code_id, status in rows}


def _total(page: str) -> int:
    match = re.search(r'data-total="(\d+)"', page)
    assert match is not None
    return int(match.group(1))


def _staff_status(client: FlaskClient, world: OrgWorld, code: EnrollmentCode) -> str:
    """The State cell of ``code``'s row on the staff contract page (found with staff's search,
    typed as the page shows it: grouped)."""
    page = _text(
        client.get(f"/staff/contracts/{world.seats.id}", query_string={"q": group_code(code.code)})
    )
    rows = [row for row in page.split("<tr>") if f">{group_code(code.code)}</code>" in row]
    assert len(rows) == 1, page
    match = re.search(r'data-code-status="(\w+)">(\w+)<', rows[0])
    assert match is not None and match.group(1) == match.group(2)
    return match.group(1)


def _sql_status(db: Any, code: EnrollmentCode) -> str:
    return str(db.session.scalar(select(EnrollmentCode.status).where(EnrollmentCode.id == code.id)))


def _used_then_deactivated(db: Any, world: OrgWorld) -> EnrollmentCode:
    world.seat_learner(world.seats, "ada@acme.example", "Ada Lovelace")
    code = db.session.scalar(
        select(EnrollmentCode).where(
            EnrollmentCode.contract_id == world.seats.id, EnrollmentCode.times_redeemed > 0
        )
    )
    deactivate_code(lock_contract(world.seats.id), code.id)
    db.session.commit()
    return code


def _deactivated_unused(db: Any, world: OrgWorld) -> EnrollmentCode:
    code = world.free_codes(world.seats)[0]
    deactivate_code(lock_contract(world.seats.id), code.id)  # a fresh seat code replaces it
    db.session.commit()
    return code


def _assigned(client: FlaskClient, db: Any, world: OrgWorld, email: str) -> EnrollmentCode:
    response = client.post(_codes_url(world, "/assign"), data={"email": email})
    assert response.status_code == 302
    db.session.expire_all()
    code = db.session.scalar(select(EnrollmentCode).where(EnrollmentCode.assigned_email == email))
    assert code is not None
    return code


# ----------------------------------------------------------------------------- the definition


@pytest.mark.parametrize(
    ("used", "deactivated", "assigned"), list(product([False, True], repeat=3))
)
def test_python_and_sql_status_agree_with_the_precedence(
    db: Any, used: bool, deactivated: bool, assigned: bool
) -> None:
    code = EnrollmentCodeFactory(
        times_redeemed=1 if used else 0,
        deactivated_at=utcnow() if deactivated else None,
        assigned_email="pat@example.com" if assigned else None,
    )
    db.session.commit()
    expected = (
        CodeStatus.USED
        if used
        else CodeStatus.DEACTIVATED
        if deactivated
        else CodeStatus.ASSIGNED
        if assigned
        else CodeStatus.UNUSED
    )
    assert code.status is expected
    assert _sql_status(db, code) == expected.value
    assert code_listing.CodeRow(code, []).status is expected


# ----------------------------------------------------------------------------- the cases that disagreed


def test_a_used_then_deactivated_code_is_used_in_the_tiles_the_list_and_on_staffs_page(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    code = _used_then_deactivated(db, world)
    assert code.deactivated_at is not None and code.times_redeemed == 1
    login_as(world.grace)
    page = _text(client.get(_codes_url(world)))
    tiles = _tiles(page)
    assert (tiles["used"], tiles["deactivated"]) == (1, 0)
    used = _text(client.get(_codes_url(world, "?status=used")))
    assert _listed(used) == {code.id: "used"} and _total(used) == 1
    deactivated = _text(client.get(_codes_url(world, "?status=deactivated")))
    assert _listed(deactivated) == {} and _total(deactivated) == 0
    login_as(world.staff)
    assert _staff_status(client, world, code) == "used"
    staff_page = _text(client.get(f"/staff/contracts/{world.seats.id}"))
    assert "used 1 · assigned 0 · deactivated 0" in staff_page


def test_a_deactivated_unused_code_is_deactivated_everywhere(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    code = _deactivated_unused(db, world)
    login_as(world.grace)
    tiles = _tiles(_text(client.get(_codes_url(world))))
    assert (tiles["unused"], tiles["deactivated"]) == (10, 1)  # the replacement is unused
    page = _text(client.get(_codes_url(world, "?status=deactivated")))
    assert _listed(page) == {code.id: "deactivated"} and _total(page) == 1
    assert code.id not in _listed(_text(client.get(_codes_url(world, "?status=unused"))))
    login_as(world.staff)
    assert _staff_status(client, world, code) == "deactivated"


def test_an_assigned_code_is_assigned_and_an_untouched_one_unused(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    code = _assigned(client, db, world, "alice@acme.example")
    free = world.free_codes(world.seats)[0]
    tiles = _tiles(_text(client.get(_codes_url(world))))
    assert (tiles["unused"], tiles["assigned"]) == (9, 1)
    page = _text(client.get(_codes_url(world, "?status=assigned")))
    assert _listed(page) == {code.id: "assigned"}
    assert _listed(_text(client.get(_codes_url(world, "?status=unused"))))[free.id] == "unused"
    login_as(world.staff)
    assert _staff_status(client, world, code) == "assigned"
    assert _staff_status(client, world, free) == "unused"


def test_every_tile_counts_the_rows_its_tab_lists(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    _used_then_deactivated(db, world)
    _deactivated_unused(db, world)
    user = UserFactory(email="bo@acme.example")
    redeem(world.free_codes(world.seats)[0], user)  # used, still active
    db.session.commit()
    login_as(world.grace)
    _assigned(client, db, world, "alice@acme.example")
    _assigned(client, db, world, "carol@acme.example")
    tiles = _tiles(_text(client.get(_codes_url(world))))
    assert tiles == {"unused": 6, "assigned": 2, "used": 2, "deactivated": 1}  # 10 + 1 replacement
    assert tiles == code_listing.code_counts(world.seats)
    listed: dict[int, str] = {}
    for status in STATUSES:
        page = _text(client.get(_codes_url(world, f"?status={status}")))
        rows = _listed(page)
        assert len(rows) == _total(page) == tiles[status], status
        assert set(rows.values()) <= {status}
        listed.update(rows)
    everything = _text(client.get(_codes_url(world, "?status=all")))
    assert _listed(everything) == listed and _total(everything) == sum(tiles.values())
    db.session.expire_all()
    codes = db.session.scalars(
        select(EnrollmentCode).where(EnrollmentCode.contract_id == world.seats.id)
    ).all()
    assert {code.id: code.status.value for code in codes} == listed


# ----------------------------------------------------------------------------- search


def test_a_search_from_the_unused_tab_finds_an_assigned_code(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    code = _assigned(client, db, world, "alice@acme.example")
    page = _text(client.get(_codes_url(world, "?status=unused&q=alice")))
    assert _listed(page) == {code.id: "assigned"} and _total(page) == 1
    assert "1 code matching “alice” in all statuses" in page
    assert 'name="status" value="unused"' in page  # clearing the search returns to the tab
    for status in code_listing.CODE_STATUSES:
        href = f"/org/ACME/contracts/{world.seats.id}/codes?status={status}"
        assert f'href="{href}"' in page
        assert _text(client.get(href))
    assert _listed(_text(client.get(_codes_url(world, "?status=unused")))).get(code.id) is None
    nothing = _text(client.get(_codes_url(world, "?status=used&q=nobody")))
    assert _total(nothing) == 0 and "No code of any status matches “nobody”" in nothing


def test_a_search_by_code_finds_it_in_any_status(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    code = _used_then_deactivated(db, world)
    login_as(world.grace)
    typed = "-".join(code.code[i : i + 5] for i in range(0, 20, 5)).lower()
    page = _text(client.get(_codes_url(world, f"?status=assigned&q={typed}")))
    assert _listed(page) == {code.id: "used"}
    assert _total(_text(client.get(_codes_url(world, "?status=all&q=%25")))) == 0
