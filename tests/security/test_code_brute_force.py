"""Guessing enrollment codes: the limits hold (``REDEEM_RATE_LIMIT``, per account and per address).

``tests/portal/test_redemption.py`` shows one account is stopped after its limit and that the 429
page is friendly. Here: many accounts behind one address are stopped too; a client cannot reset its
address with ``X-Forwarded-For``; one account cannot escape with many addresses; once limited, even
a right code is not tried (so the limit is no oracle); the hourly limit counts as well; a 429 writes
nothing and says which limit and what to do; and the shareable ``/redeem/<code>`` link reveals
nothing about the code and leads to the same limited form.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.core.text import group_code
from tests.security.conftest import (
    PRODUCTION,
    SecurityWorld,
    code_of,
    sign_in,
    unique_email,
)
from tests.support.snapshots import changes, snapshot


def redeem(client: FlaskClient, code: str, **kw: Any) -> Any:
    response = client.post("/learner/redeem", data={"code": code}, **kw)
    response.close()
    return response


def new_learner(db: Any) -> Any:
    from portal.models import User

    user = User(email=unique_email("guesser"))
    db.session.add(user)
    db.session.commit()
    return user


def test_many_accounts_on_one_address_are_stopped(
    make_app: Callable[..., Flask], world: SecurityWorld, db: Any
) -> None:
    app = make_app(REDEEM_RATE_LIMIT="4 per minute")
    statuses = []
    for attempt in range(6):
        client = app.test_client()  # a fresh account (and cookie jar) for every guess
        sign_in(client, new_learner(db))
        statuses.append(redeem(client, f"WRONG{attempt}CODE").status_code)
    assert statuses == [404, 404, 404, 404, 429, 429]


def test_x_forwarded_for_does_not_reset_the_address_limit(
    make_app: Callable[..., Flask], world: SecurityWorld, db: Any
) -> None:
    """Without a trusted proxy in front, the header is the client's to write: it must not count."""
    app = make_app(REDEEM_RATE_LIMIT="3 per minute")
    statuses = []
    for attempt in range(5):
        client = app.test_client()
        sign_in(client, new_learner(db))
        forged = {"X-Forwarded-For": f"198.51.100.{attempt}", "X-Real-IP": f"198.51.100.{attempt}"}
        statuses.append(redeem(client, f"WRONG{attempt}CODE", headers=forged).status_code)
    assert statuses[-1] == 429 and statuses.count(429) == 2


def test_one_account_on_many_addresses_is_stopped(
    make_app: Callable[..., Flask], world: SecurityWorld
) -> None:
    app = make_app(REDEEM_RATE_LIMIT="3 per minute")
    client = app.test_client()
    sign_in(client, world.lee)
    statuses = [
        redeem(client, f"WRONG{n}CODE", environ_base={"REMOTE_ADDR": f"203.0.113.{n}"}).status_code
        for n in range(5)
    ]
    assert statuses == [404, 404, 404, 429, 429]
    limited = client.post(
        "/learner/redeem", data={"code": "X"}, environ_base={"REMOTE_ADDR": "203.0.113.99"}
    )
    page = html.unescape(limited.get_data(as_text=True))
    assert "Too many codes tried from this account" in page


def test_once_limited_even_the_right_code_is_not_tried(
    make_app: Callable[..., Flask], world: SecurityWorld, db: Any
) -> None:
    """Otherwise the limit would be an oracle: 429 for wrong guesses, a seat for the right one."""
    app = make_app(REDEEM_RATE_LIMIT="3 per minute")
    client = app.test_client()
    sign_in(client, world.lee)
    right = code_of(db, world.other).code
    for spelling in ("wrong-code-1", "WRONG CODE 1", "WrOnG-CoDe-1"):  # one guess, three spellings
        assert redeem(client, spelling).status_code == 404
    before = snapshot(db)
    limited = client.post("/learner/redeem", data={"code": right})
    assert limited.status_code == 429
    assert changes(before, snapshot(db)) == []  # no seat, no code use, no refusal event

    page = html.unescape(limited.get_data(as_text=True))
    assert "Too many attempts" in page and "Too many codes tried from this" in page
    assert "Wait a minute, then try again" in page
    assert "<nav" in page  # the site's own page, not a bare error
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_the_address_limit_says_so(
    make_app: Callable[..., Flask], world: SecurityWorld, db: Any
) -> None:
    app = make_app(REDEEM_RATE_LIMIT="1 per minute")
    first = app.test_client()
    sign_in(first, new_learner(db))
    redeem(first, "WRONGCODE")
    other = app.test_client()
    sign_in(other, new_learner(db))
    limited = other.post("/learner/redeem", data={"code": "WRONGCODE"})
    assert limited.status_code == 429
    assert "Too many codes tried from this network" in html.unescape(limited.get_data(as_text=True))


def test_the_hourly_limit_counts_too(make_app: Callable[..., Flask], world: SecurityWorld) -> None:
    app = make_app(REDEEM_RATE_LIMIT="100 per minute;3 per hour")
    client = app.test_client()
    sign_in(client, world.lee)
    statuses = [redeem(client, f"WRONG{n}CODE").status_code for n in range(4)]
    assert statuses == [404, 404, 404, 429]


def test_the_default_limit_is_ten_a_minute_and_fifty_an_hour(
    make_app: Callable[..., Flask], world: SecurityWorld
) -> None:
    app = make_app()
    assert app.config["PORTAL"].redeem_rate_limit == "10 per minute;50 per hour"
    client = app.test_client()
    sign_in(client, world.lee)
    statuses = [redeem(client, f"WRONG{n}CODE").status_code for n in range(11)]
    assert statuses == [404] * 10 + [429]


def test_the_redeem_link_reveals_nothing_and_leads_to_the_limited_form(
    make_app: Callable[..., Flask], world: SecurityWorld, db: Any
) -> None:
    app = make_app(REDEEM_RATE_LIMIT="2 per minute")
    client = app.test_client()
    sign_in(client, world.lee)
    right = code_of(db, world.other).code

    def page_for(code: str) -> tuple[int, str]:
        response = client.get(f"/redeem/{code}")
        page = response.get_data(as_text=True).replace(group_code(code), "CODE")  # as shown
        # The CSRF token is signed with the current second: two requests a second apart differ.
        return response.status_code, re.sub(r'name="csrf_token" value="[^"]*"', "CSRF", page)

    before = snapshot(db)
    # A real code, a wrong one, a used-looking one: the same page, the code only echoed back.
    pages = {page_for(code) for code in (right, "WRONGCODE1", "ZZZZZZZZZZ")}
    assert len(pages) == 1 and next(iter(pages))[0] == 200
    assert changes(before, snapshot(db)) == []  # the link itself redeems nothing
    form = client.get(f"/redeem/{right}").get_data(as_text=True)
    assert re.search(r'<form method="post" action="/learner/redeem"', form)

    # Many visits to the link are fine; guesses through its form are limited like any other.
    for n in range(20):
        assert client.get(f"/redeem/GUESS{n}").status_code == 200
    statuses = [redeem(client, f"GUESS{n}").status_code for n in range(3)]
    assert statuses == [404, 404, 429]
    assert redeem(client, right).status_code == 429


def test_behind_the_proxy_each_client_has_its_own_address_limit(
    make_app: Callable[..., Flask], world: SecurityWorld, db: Any
) -> None:
    # Behind one TLS proxy, as docs/operations.md describes: PROXY_COUNT=1.
    app = make_app(**{**PRODUCTION, "REDEEM_RATE_LIMIT": "3 per minute", "PROXY_COUNT": 1})
    statuses = []
    for n in range(6):  # six different learners on six different networks, one guess each
        client = app.test_client()
        sign_in(client, new_learner(db))
        # What the proxy sends: its own address as the peer, the client's in X-Forwarded-For.
        response = redeem(
            client,
            f"WRONG{n}CODE",
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
            headers={"X-Forwarded-For": f"203.0.113.{n + 10}", "X-Forwarded-Proto": "https"},
        )
        statuses.append(response.status_code)
    assert statuses == [404] * 6
