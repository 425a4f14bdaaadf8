"""Hypothesis fuzzing of every form, query parameter, URL argument and API header.

For every POST route (its form's fields, starting from a body the form accepts and breaking it field by
field: hostile text, unicode, control characters, very long strings, out-of-range and negative
numbers, SQL and HTML injection, missing fields, duplicated keys, wrong types such as a file where
text is expected), every GET route (its query parameters, plus unknown ones), every URL argument of
every route, and the catalog API's ``Authorization`` header:

* the answer is never a 5xx;
* an answer in the 4xx range wrote nothing: every row of every table is as it was. Stated
  exceptions: the refusals whose audit event *is* the refusal (``code.refused`` on code entry,
  ``payment.forged``/``payment.refused`` from the payment provider), and an API token's
  ``last_used_at``, which a valid token updates before a bad query is refused.

The inputs that crashed the portal when this was written (huge ids, Unicode digits, a file in place
of a text field, a huge page number) are fixed; ``test_input_findings.py`` keeps one test per place.

Besides the random examples, ``test_each_query_parameter_alone``, ``test_each_field_alone`` and
``test_each_signed_payment_field_alone`` put the nastiest values (``CORE``) into one input at a time
while the others stay valid, so the code behind validation is reached on every run.

One app and world serve the module; the world's SQLite file is restored before each route, so every
route starts from the same state. ``SECURITY_FUZZ_EXAMPLES`` sets the examples per route (default
8) and ``SECURITY_FUZZ_RANDOM=1`` explores new inputs instead of the same ones every run.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from werkzeug.datastructures import MultiDict
from werkzeug.routing import IntegerConverter, Rule
from werkzeug.routing.converters import AnyConverter

from portal.integrations.cybersource import sign
from tests.conftest import USES_POSTGRES, _base_config, _truncate_all
from tests.security.conftest import (
    OFFLINE,
    ROLES,
    SecurityWorld,
    all_routes,
    offline_keycloak,
    png_bytes,
    request_body,
    role_for,
    unsynced_sqlite,
    valid_forms,
)
from tests.support.snapshots import changes, snapshot

EXAMPLES = int(os.environ.get("SECURITY_FUZZ_EXAMPLES", "8"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SECURITY_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LIGHT = settings(FUZZ, max_examples=max(2, EXAMPLES // 3))

# ----------------------------------------------------------------------------- inputs

HOSTILE = [
    "",
    " ",
    "\t",
    "0",
    "-1",
    "-0",
    "+1",
    "1.5",
    "1e3",
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "-Infinity",
    "0x1f",
    "1_000",
    " 7 ",
    str(2**31 - 1),
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    "9" * 40,
    "-" + "9" * 40,
    "\u00b2",  # superscript two: str.isdigit() is True, int() refuses it
    "\u0661\u0662\u0663",  # Arabic-Indic digits: int() accepts them
    "\U0001d7d7",  # mathematical bold digit nine
    "\u216b",  # roman numeral twelve
    "' OR '1'='1",
    "1; DROP TABLE users; --",
    '" OR ""="',
    "%",
    "_",
    "\\",
    "%_\\%",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "{{7*7}}",
    "{% print 1 %}",
    "${7*7}",
    "%s%s%n",
    "{0.__class__}",
    "../../../etc/passwd",
    "//evil.example/",
    "\x00",
    "a\x00b",
    "\r\nX-Injected: 1",
    "\u202e\u202d",
    "\ufeff",
    "\u200b",
    "\uff21\uff23\uff2d\uff25",  # fullwidth ACME
    "\u0130",
    "\u00df",
    "\U0001f642" * 50,
    "A" * 300,
    "A" * 10_001,
    "\u00e9" * 5000,
    "true",
    "false",
    "on",
    "y",
    "null",
    "None",
    "[]",
    "{}",
    "2026-02-30T10:00",
    "0000-01-01T00:00",
    "9999-12-31T23:59",
    "2026-09-01T09:00",
    "2026-09-01 09:00:00",
    "1970-01-01",
    "auto",
    "code",
    "managed",
    "one_time",
    "multi_use",
    "one_per_learner",
    "self",
    "instructor",
    "custom-b2b-enterprise",
    "custom-b2c",
    "custom-b2b-enterprise,custom-b2c,nope",
    "ACME",
    "acme",
    "GLOBEX",
    "x@acme.example",
    "=1+1@acme.example",
    "UPPER@ACME.EXAMPLE",
]
# Small numbers, and the extremes: big enough to be out of every range, never big enough to make
# the portal legitimately generate thousands of codes.
NUMBERS = st.one_of(
    st.integers(-3, 40),
    st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**40, -(2**63), -(10**40)]),
)
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    NUMBERS.map(str),
    st.text(st.characters(max_codepoint=0x2F), max_size=6),
)
HOSTILE_FILES = [
    png_bytes(),
    b"",
    b"\x00" * 64,
    b"email\nfuzz.one@acme.example\n=cmd@acme.example\nnot-an-address\n",
    "email\r\nfuzz.two@acme.example\r\n".encode("utf-16"),
    "e-mail;x\n\u00e9l\u00e8ve@acme.example;1\n".encode("cp1252"),
    b'"unterminated,field\n',
    b"\xff\xfe\xfd\xfc",
    b"email\n" + b"dup@acme.example\n" * 1001,
    b"<html><script>alert(1)</script></html>",
    b"GIF89a/*\x00\x00*/=alert(1);",
]
FILE_NAMES = ["people.csv", "logo.png", "../../etc/passwd", "x\x00.html", "\u00fc.csv", "a" * 300]
FILES = st.tuples(
    st.one_of(st.sampled_from(HOSTILE_FILES), st.binary(max_size=256)), st.sampled_from(FILE_NAMES)
)
EXTRA_NAMES = ["extra", "next", "is_staff", "organization_id", "csrf_token", "id", "user_id"]


@st.composite
def broken_form(draw: st.DrawFn, base: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``base`` (a body the form accepts), each field kept, dropped, replaced by a hostile value or
    another type, or sent twice; plus up to two fields nobody asked for."""
    pairs: list[tuple[str, Any]] = []
    for name, good in base.items():
        is_file = isinstance(good, tuple)
        how = draw(
            st.sampled_from([*["keep", "hostile", "hostile", "drop", "twice"] * 3, "other-type"])
        )
        if how == "drop":
            continue
        if how == "keep":
            pairs.append((name, good))
        elif how == "other-type":
            pairs.append((name, draw(VALUES if is_file else FILES)))
        else:
            bad = draw(FILES if is_file else VALUES)
            pairs.append((name, bad))
            if how == "twice":
                pairs.insert(len(pairs) - draw(st.sampled_from([0, 1])), (name, good))
    names = st.one_of(st.sampled_from([*EXTRA_NAMES, *base]), st.text(max_size=12))
    pairs += draw(st.lists(st.tuples(names, VALUES), max_size=2))
    return pairs


@st.composite
def query(draw: st.DrawFn, names: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for name in names:
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
            pairs.append((name, draw(VALUES)))
    extra = st.one_of(st.sampled_from(EXTRA_NAMES), st.text(min_size=1, max_size=12))
    pairs += draw(st.lists(st.tuples(extra, VALUES), max_size=2))
    return pairs


# ----------------------------------------------------------------------------- what routes take

CATALOG = ["include_restricted", "include_hidden", "page", "page_size"]
# Every GET route and the query parameters it reads (the test below fails for a new GET route).
QUERY: dict[str, list[str]] = {
    "static": [],
    "core.home": [],
    "core.healthz": [],
    "core.favicon": [],
    "core.redeem_link": [],
    "core.org_logo": [],
    "auth.login": ["next"],
    "auth.callback": ["state", "code", "iss", "error", "error_description", "session_state"],
    **{f"catalog.{n}": CATALOG for n in ("index", "course", "run", "programs", "program")},
    **{
        f"catalog_api.{n}": CATALOG
        for n in ("course_runs", "course_run", "courses", "course", "programs", "program")
    },
    "checkout.show": [],
    "checkout.result": [],
    "learner.dashboard": [],
    "learner.redeem_form": ["code"],
    "outbox.index": ["page", "sort"],
    "outbox.message": [],
    "org_admin.index": [],
    "org_admin.overview": [],
    "org_admin.learners": ["contract", "status", "q", "page", "sort", "outcome"],
    "org_admin.learners_export": ["contract", "status", "q", "outcome", "sort"],
    "org_admin.codes": ["status", "q", "page", "sort"],
    "org_admin.codes_export": [],
    "org_admin.assign_bulk": [],
    "org_admin.assign_bulk_job": [],
    "org_admin.assign_bulk_status": [],
    "org_admin.revoke_seat": [],
    "org_admin.revoke_assignment": [],
    "org_admin.api_tokens": [],
    "org_api.openapi": [],
    "org_api.organization": [],
    "org_api.contracts": ["page", "page_size"],
    "org_api.contract": [],
    "org_api.seats": ["status", "page", "page_size"],
    "org_api.learners": ["contract", "status", "page", "page_size"],
    "org_api.codes": ["contract", "status", "page", "page_size"],
    "staff.index": [],
    "staff.users": ["q", "page", "sort"],
    "staff.jobs": ["state", "kind", "page", "sort"],
    "staff.job_status": [],
    "staff.audit_log": [
        "actor",
        "object_type",
        "object_id",
        "action",
        "from",
        "to",
        "page",
        "sort",
    ],
    "staff.organizations": ["q", "page", "sort"],
    "staff.organization_new": [],
    "staff.organization_detail": ["page"],
    "staff.organization_edit": [],
    "staff.organization_deactivate": [],
    "staff.organization_logo": [],
    "staff.organization_logo_remove": [],
    "staff.organization_link_keycloak": [],
    "staff.organization_member_remove": [],
    "staff.contracts": ["q", "organization", "state", "type", "sort", "page"],
    "staff.contract_new": ["organization_id"],
    "staff.contract_detail": ["q", "codes_page", "learners_page"],
    "staff.contract_edit": [],
    "staff.contract_membership": [],
    "staff.contract_seats": [],
    "staff.contract_deactivate": [],
    "staff.contract_reactivate": [],
    "staff.contract_remove_run": [],
    "staff.contract_remove_program": [],
    "staff.codes_generate": [],
    "staff.code_deactivate": [],
    "staff.codes_export": [],
    "staff.courses": [],
    "staff.course_new": [],
    "staff.course_edit": [],
    "staff.run_new": [],
    "staff.run_edit": [],
    "staff.run_import": [],
    "staff.program_new": [],
    "staff.program_edit": [],
    "staff.api_tokens": [],
    "staff.api_token_new": [],
    "staff.api_token_revoke": [],
    "staff.refunds": ["page", "sort"],
    "staff.orders": ["q", "state", "organization", "contract", "page", "sort"],
    "staff.orders_csv": ["q", "state", "organization", "contract"],
    "staff.order_detail": [],
    "staff.contract_renew": [],
    "staff.contract_clone": [],
    "learner.orders": ["page", "sort"],
    "learner.receipt": [],
    "org_admin.notices": ["page", "sort"],
    "org_admin.reports": [],
    "org_admin.report_download": [],
}
# Who asks: the catalog and the public pages are fuzzed as anonymous, a learner and staff too.
PUBLIC_PREFIXES = ("catalog.", "catalog_api.", "auth.", "core.home", "core.healthz")
# 4xx answers that write on purpose (the refusal is recorded), by endpoint.
REFUSAL_AUDIT = {
    "learner.redeem_submit": {"code.refused"},
    "checkout.notify": {"payment.forged", "payment.refused"},
    "checkout.receipt": {"payment.forged", "payment.refused"},
}
# A valid API token records when it was last used, even for a request then refused as malformed.
TOKEN_USE = {"api_tokens": {"last_used_at"}}
TOKEN_ENDPOINTS = {
    f"catalog_api.{n}"
    for n in ("course_runs", "course_run", "courses", "course", "programs", "program")
}
# 5xx answers that are the designed answer: edX is unreachable in these tests (503, "try again").
DESIGNED_5XX = {("staff.run_import", 503)}

# POST routes that take no fields (a button with its CSRF token), or whose body is the payment
# provider's (fuzzed by payment_message instead).
NO_FIELDS = {
    "auth.logout",
    "checkout.notify",
    "checkout.receipt",
    "checkout.retry",
    "learner.enroll_run",
    "learner.enroll_in_program",
    "learner.unenroll_run",
    "org_admin.remind",
    "org_admin.revoke_assignment",
    "staff.contract_remove_program",
    "staff.contract_remove_run",
    "staff.program_move_course",
    "staff.program_remove_course",
    "staff.ping_jobs",
    "staff.pull_organizations",
    "staff.resync_organization",
    "staff.organization_member_remove",
    "staff.organization_deactivate",
    "staff.organization_reactivate",
    "staff.create_in_keycloak",
    "staff.organization_logo_remove",
    "staff.resync_user",
    "staff.run_outcomes_sync",
}

FILE_FIELDS = {"file", "logo"}  # the only file inputs (org admins' CSV, staff's logo upload)


# ----------------------------------------------------------------------------- the environment


@dataclass
class Env:
    app: Flask
    db: Any
    client: FlaskClient
    users: dict[str, int | None]
    values: dict[str, Any]
    per_endpoint: dict[str, dict[str, Any]]
    forms: dict[str, dict[str, Any]]
    order_reference: str
    token_value: str
    secret: str
    live: Path | None
    pristine: Path | None
    seen: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    watcher: sqlite3.Connection | None = None

    def reset(self) -> None:
        """Back to the world as it was built (SQLite: the file is copied back)."""
        self.db.session.remove()
        self.db.engine.dispose()
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
        if self.live and self.pristine:
            shutil.copyfile(self.pristine, self.live)
            self.watcher = sqlite3.connect(self.live)

    def version(self) -> int:
        """SQLite's data_version: it changes whenever another connection commits a write."""
        assert self.watcher is not None
        return int(self.watcher.execute("PRAGMA data_version").fetchone()[0])

    def rule(self, endpoint: str) -> Rule:
        return next(r for r in self.app.url_map.iter_rules() if r.endpoint == endpoint)

    def args(self, endpoint: str, **override: Any) -> dict[str, Any]:
        values = {**self.values, **self.per_endpoint.get(endpoint, {}), **override}
        return {name: values[name] for name in self.rule(endpoint).arguments}

    def url(self, endpoint: str, args: Mapping[str, Any]) -> str:
        return self.app.url_map.bind("localhost").build(endpoint, dict(args))

    def sign_in(self, role: str) -> None:
        g.pop("_login_user", None)
        with self.client.session_transaction() as session:
            session.clear()
            if self.users[role] is not None:
                session["_user_id"] = str(self.users[role])
                session["_fresh"] = True

    def attempt(
        self,
        endpoint: str,
        method: str,
        role: str,
        *,
        args: Mapping[str, Any] | None = None,
        query: list[tuple[str, Any]] | None = None,
        form: list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        args = self.args(endpoint) if args is None else args
        url = self.url(endpoint, args)
        query_md: MultiDict = MultiDict(query or [])
        form_md = request_body(form or [])
        label = f"{method} {url} as {role}, query={query!r}, form={form!r}, headers={headers!r}"
        if currently_in_test_context():
            note(label)
        self.sign_in(role)
        # Where a refusal may write on purpose, compare every row; elsewhere any commit is a write.
        uses_token = endpoint in TOKEN_ENDPOINTS and "Authorization" in (headers or {})
        exact = self.watcher is None or endpoint in REFUSAL_AUDIT or uses_token
        before = snapshot(self.db) if exact else None
        version = None if exact else self.version()
        with self.client.open(
            url,
            method=method,
            query_string=query_md,
            data=form_md if method == "POST" else None,
            headers=headers or {},
        ) as response:
            response.get_data()  # a streamed body (CSV) runs its code now
            status = response.status_code
        self.statuses[(endpoint, method, status)] += 1
        if status >= 500:
            assert (endpoint, status) in DESIGNED_5XX, f"{status} for {label}"
        elif status >= 400 and before is not None:
            found = changes(
                before,
                snapshot(self.db),
                allowed_audit=REFUSAL_AUDIT.get(endpoint, ()),
                ignored_columns=TOKEN_USE if endpoint in TOKEN_ENDPOINTS else None,
            )
            assert found == [], f"{status} wrote {found} for {label}"
        elif status >= 400:
            assert self.version() == version, f"{status} committed a write for {label}"
        return status


@pytest.fixture(scope="module")
def env(database_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    from portal import create_app
    from portal.extensions import db

    folder = tmp_path_factory.mktemp("fuzz")
    live = pristine = None
    if USES_POSTGRES:
        url = database_template
    else:
        live = folder / "portal.sqlite"
        shutil.copyfile(database_template.removeprefix("sqlite:///"), live)
        url = f"sqlite:///{live}"
    config = {**OFFLINE, "REDEEM_RATE_LIMIT": "1000000 per minute"}
    app = create_app(_base_config(folder / "instance", url, **config))
    offline_keycloak(app)
    unsynced_sqlite(app)
    with app.app_context():
        world = SecurityWorld(db)
        users = {role: (u.id if (u := world.user_for(role)) else None) for role in ROLES}
        made = Env(
            app=app,
            db=db,
            client=app.test_client(),
            users=users,
            values=world.url_values(),
            per_endpoint={e: world.endpoint_values(e) for e in app.view_functions},
            forms=valid_forms(world),
            order_reference=world.order.reference,
            token_value=world.token_value,
            secret=app.config["PORTAL"].cybersource_secret_key,
            live=live,
            pristine=None,
        )
        if live is not None:
            db.session.remove()
            db.engine.dispose()
            pristine = folder / "pristine.sqlite"
            shutil.copyfile(live, pristine)
            made.pristine = pristine
        yield made
        if made.watcher is not None:
            made.watcher.close()
        db.session.remove()
        if USES_POSTGRES:
            _truncate_all(app)
        db.engine.dispose()


@pytest.fixture(autouse=True)
def fresh_world(env: Env) -> None:
    env.reset()


_ROUTES = all_routes()
GET_ENDPOINTS = sorted({e for e, _r, m in _ROUTES if m == "GET"})
POST_ENDPOINTS = sorted({e for e, _r, m in _ROUTES if m == "POST"})
WITH_ARGUMENTS = sorted({(e, m) for e, r, m in _ROUTES if "<" in r})


def valid_forms_have_fields(endpoint: str) -> bool:
    """POST routes whose valid body has fields (a form with none has nothing to break)."""
    return endpoint not in NO_FIELDS


def _roles(endpoint: str) -> list[str]:
    if endpoint.startswith(PUBLIC_PREFIXES):
        return ["anonymous", "learner", "staff"]
    return [role_for(endpoint)]


# ----------------------------------------------------------------------------- coverage checks


def test_every_route_is_fuzzed(env: Env) -> None:
    """A new GET route needs its query parameters here, a new POST route a valid body."""
    assert set(QUERY) == set(GET_ENDPOINTS)
    assert set(env.forms) == set(POST_ENDPOINTS)


def test_the_fuzzer_knows_every_field_of_every_form(env: Env) -> None:
    """Every field of every form the pages render is one the fuzzer breaks (so a new field is
    fuzzed as soon as it is added to ``valid_forms``, and forgetting it fails here)."""
    import re

    from werkzeug.exceptions import HTTPException

    adapter = env.app.url_map.bind("localhost")
    missing: dict[str, set[str]] = {}
    for endpoint in GET_ENDPOINTS:
        if endpoint in ("static", "auth.login"):
            continue
        env.sign_in(role_for(endpoint))
        with env.client.get(env.url(endpoint, env.args(endpoint))) as response:
            page = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        for form in re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", page, re.S | re.I):
            action = re.search(r'action="([^"]*)"', form)
            path = action.group(1).split("?")[0] if action else ""
            try:
                target, _ = adapter.match(path or "/", method="POST")
            except HTTPException:
                continue
            names = set(re.findall(r'<(?:input|select|textarea)\b[^>]*name="([^"]+)"', form))
            unknown = names - set(env.forms.get(str(target), {})) - {"csrf_token", "next"}
            if unknown:
                missing.setdefault(str(target), set()).update(unknown)
    assert missing == {}


# ----------------------------------------------------------------------------- GET: query strings


@pytest.mark.parametrize("endpoint", GET_ENDPOINTS)
def test_query_parameters(env: Env, endpoint: str) -> None:
    names = QUERY[endpoint]

    @(FUZZ if names else LIGHT)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        role = data.draw(st.sampled_from(_roles(endpoint)), label="role")
        pairs = data.draw(query(names), label="query")
        env.attempt(endpoint, "GET", role, query=pairs)

    fuzz()


TOKEN_TEMPLATES = [
    "Bearer {token}",
    "bearer  {token}",
    "Bearer {token} trailing",
    "Token {token}",
    "Basic {token}",
]
BAD_AUTHORIZATION = [
    "Bearer pct_not-a-real-token",
    "Bearer",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Bearer " + "A" * 5000,
    "Bearer ' OR '1'='1",
    "Bearer pct_\x00",
]


@st.composite
def authorization(draw: st.DrawFn, token: str) -> str | None:
    """No header, the real token in right and wrong shapes, or something else entirely."""
    kind = draw(st.sampled_from(["none", "token", "bad", "text"]))
    if kind == "none":
        return None
    if kind == "token":
        return draw(st.sampled_from(TOKEN_TEMPLATES)).format(token=token)
    if kind == "bad":
        return draw(st.sampled_from(BAD_AUTHORIZATION))
    return draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40))


@pytest.mark.parametrize("endpoint", [e for e in GET_ENDPOINTS if e.startswith("catalog_api.")])
def test_api_authorization_header_and_filters(env: Env, endpoint: str) -> None:
    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        header = data.draw(authorization(env.token_value), label="authorization")
        headers = {} if header is None else {"Authorization": header}
        role = data.draw(st.sampled_from(["anonymous", "staff"]), label="role")
        status = env.attempt(
            endpoint, "GET", role, query=data.draw(query(CATALOG)), headers=headers
        )
        # Anything but the token as a Bearer is refused, even on public data.
        valid = header is not None and header.split() == ["Bearer", env.token_value]
        valid = valid or header == f"bearer  {env.token_value}"
        if header is not None and not valid:
            assert status == 401

    fuzz()


# ----------------------------------------------------------------------------- URL arguments


def _argument_values(env: Env, endpoint: str, rule: Rule) -> st.SearchStrategy[dict[str, Any]]:
    real = env.args(endpoint)
    strategies = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            strategies[name] = st.sampled_from(sorted(converter.items))  # type: ignore[attr-defined]
        elif isinstance(converter, IntegerConverter):
            strategies[name] = st.one_of(st.just(real[name]), NUMBERS.filter(lambda n: n >= 0))
        else:
            strategies[name] = st.one_of(st.just(real[name]), VALUES.filter(bool))
    return st.fixed_dictionaries(strategies)


@pytest.mark.parametrize(("endpoint", "method"), WITH_ARGUMENTS)
def test_url_arguments(env: Env, endpoint: str, method: str) -> None:
    rule = env.rule(endpoint)

    @LIGHT
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        args = data.draw(_argument_values(env, endpoint, rule), label="arguments")
        form = list(env.forms.get(endpoint, {}).items()) if method == "POST" else None
        env.attempt(endpoint, method, role_for(endpoint), args=args, form=form)

    fuzz()


# ----------------------------------------------------------------------------- POST: forms


@st.composite
def payment_message(draw: st.DrawFn, env: Env) -> list[tuple[str, Any]]:
    """What CyberSource might post: hostile values, half of the time genuinely signed (so the
    portal's handling of a verified but absurd message is fuzzed too, not only the signature)."""
    fields = {
        "decision": draw(
            st.one_of(st.sampled_from(["ACCEPT", "DECLINE", "CANCEL", "REVIEW", "ERROR"]), VALUES)
        ),
        "transaction_id": draw(st.one_of(st.just("7000000000000000000001"), VALUES)),
        "req_reference_number": draw(st.one_of(st.just(env.order_reference), VALUES)),
        "req_amount": draw(st.one_of(st.sampled_from(["149.00", "0.00", "-149.00"]), VALUES)),
        "req_currency": draw(st.one_of(st.sampled_from(["USD", "usd", "EUR"]), VALUES)),
        "auth_amount": draw(st.one_of(st.just("149.00"), VALUES)),
        "req_profile_id": draw(st.one_of(st.just("demo-profile"), VALUES)),
        "message": draw(VALUES),
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=2)):
        fields.pop(name, None)
    if draw(st.booleans()):
        fields["signed_field_names"] = ",".join([*fields, "signed_field_names"])
        fields = sign(fields, env.secret)
        if draw(st.booleans()):
            fields[draw(st.sampled_from(sorted(fields)))] = draw(VALUES)  # tampered after signing
    else:
        fields["signed_field_names"] = draw(VALUES)
        fields["signature"] = draw(st.one_of(VALUES, st.just("A" * 43 + "=")))
    return [(k, v) for k, v in fields.items()] + draw(
        st.lists(st.tuples(st.text(max_size=8), VALUES), max_size=1)
    )


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_forms(env: Env, endpoint: str) -> None:
    base = env.forms[endpoint]

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        if endpoint in ("checkout.notify", "checkout.receipt"):
            form = data.draw(payment_message(env), label="message")
        else:
            form = data.draw(broken_form(base), label="form")
        env.attempt(endpoint, "POST", role_for(endpoint), form=form)

    fuzz()


# ----------------------------------------------------------------------------- one at a time

# The nastiest values, each put into one field or parameter while the others stay valid, so the code
# behind the validation (services, queries) is reached, every run, deterministically.
CORE = [
    "\u00b2",
    str(2**63),
    "-" + "9" * 40,
    "1e309",
    "NaN",
    "\x00",
    "A" * 10_001,
    "' OR '1'='1' --",
    "",
    "\U0001f642",
]


@pytest.mark.parametrize("endpoint", [e for e in GET_ENDPOINTS if QUERY[e]])
def test_each_query_parameter_alone(env: Env, endpoint: str) -> None:
    roles = ["anonymous", "staff"] if endpoint.startswith(PUBLIC_PREFIXES) else _roles(endpoint)
    for role in roles:
        for name in QUERY[endpoint]:
            for value in CORE:
                env.attempt(endpoint, "GET", role, query=[(name, value)])


@pytest.mark.parametrize("endpoint", [e for e in POST_ENDPOINTS if valid_forms_have_fields(e)])
def test_each_field_alone(env: Env, endpoint: str) -> None:
    base = env.forms[endpoint]
    for name, good in base.items():
        others = [(k, v) for k, v in base.items() if k != name]
        variants: list[list[tuple[str, Any]]] = [others]  # missing
        if isinstance(good, tuple):
            variants += [[*others, (name, (data, "f.csv"))] for data in HOSTILE_FILES]
        else:
            variants += [[*others, (name, value)] for value in CORE]
            variants.append([*others, (name, good), (name, CORE[0])])  # duplicated
        for form in variants:
            env.attempt(endpoint, "POST", role_for(endpoint), form=form)


def test_the_write_detector_sees_commits(env: Env) -> None:
    """The 4xx check relies on SQLite's data_version: it must move on a write, and only then."""
    if env.watcher is None:
        pytest.skip("PostgreSQL: every request is compared row by row instead")
    start = env.version()
    assert env.attempt("staff.jobs", "GET", "staff") == 200
    assert env.version() == start
    assert env.attempt("staff.ping_jobs", "POST", "staff") == 302
    assert env.version() != start


def _signed_message(env: Env, **changes: str) -> list[tuple[str, Any]]:
    fields = {
        "decision": "DECLINE",
        "transaction_id": "7000000000000000000042",
        "req_reference_number": env.order_reference,
        "req_amount": "149.00",
        "req_currency": "USD",
        "auth_amount": "149.00",
        "req_profile_id": "demo-profile",
        "message": "Declined",
    }
    fields.update(changes)
    fields["signed_field_names"] = ",".join([*fields, "signed_field_names"])
    return list(sign(fields, env.secret).items())


@pytest.mark.parametrize("endpoint", ["checkout.notify", "checkout.receipt"])
def test_each_signed_payment_field_alone(env: Env, endpoint: str) -> None:
    """Verified but absurd: a genuine signature over one hostile value (what a compromised or
    buggy provider account could send) is handled, never a crash."""
    for name in (
        "decision",
        "transaction_id",
        "req_reference_number",
        "req_amount",
        "req_currency",
        "auth_amount",
        "req_profile_id",
        "message",
    ):
        for value in CORE:
            env.attempt(endpoint, "POST", "anonymous", form=_signed_message(env, **{name: value}))
    assert env.attempt(endpoint, "POST", "anonymous", form=_signed_message(env)) < 400
