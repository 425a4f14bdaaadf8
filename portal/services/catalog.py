"""What the public catalog shows, to whom (Course Discovery ADR 27, openedx.md section 11).

One rule, used by the catalog pages and the JSON API alike (``visible_run_filter``):

* A run with a restriction type is left out unless that type is in ``include_restricted`` *and* the
  caller may see it: signed-in staff may see every type, an API token the types it was issued for.
  For anyone else ``include_restricted`` is ignored. Unknown values are ignored; there is no wildcard.
* ``hidden`` is independent: a hidden run is left out whatever ``include_restricted`` says, unless
  staff ask for ``include_hidden=1`` (tokens never see hidden runs).
* Source runs (b2b-rules 1.1) are internal and never in the catalog, whoever asks.

Courses are always returned; only their nested runs (and what is derived from them) are filtered.
Every listing runs a fixed number of queries whatever the amount of data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.orm import contains_eager, selectinload

from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.models import ApiToken, Course, CourseRun, Program, ProgramCourse, utcnow
from portal.models.courseware import RESTRICTION_TYPES

MAX_PAGE = 1_000_000
TRUE_VALUES = {"1", "true", "yes"}
FALSE_VALUES = {"", "0", "false", "no"}


class BadQuery(ValueError):
    """A query parameter that cannot be used; the message names it and says what is expected."""


class PageNotFound(LookupError):
    """A page number past the last page."""


# --------------------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class Viewer:
    """What a caller may be shown beyond the public catalog."""

    allowed_types: frozenset[str] = frozenset()
    may_see_hidden: bool = False


ANONYMOUS = Viewer()
STAFF = Viewer(allowed_types=frozenset(RESTRICTION_TYPES), may_see_hidden=True)


@dataclass(frozen=True)
class Visibility:
    """The effective filter of one request: the restriction types to include, and hidden runs."""

    included_types: frozenset[str] = frozenset()
    include_hidden: bool = False


def parse_restriction_types(raw: str | None) -> frozenset[str]:
    """The known types in a comma-separated value; unknown values are ignored (ADR 27)."""
    values = {part.strip() for part in (raw or "").split(",")}
    return frozenset(values & set(RESTRICTION_TYPES))


def parse_flag(raw: str | None, name: str) -> bool:
    value = (raw or "").strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise BadQuery(f"{name} must be 1 or 0 (or true/false), not {(raw or '')[:40]!r}.")


def visibility_for(
    viewer: Viewer, include_restricted: str | None, include_hidden: str | None
) -> Visibility:
    """Requested types the viewer may see; what the viewer may not see is silently ignored."""
    wants_hidden = parse_flag(include_hidden, "include_hidden")
    return Visibility(
        included_types=parse_restriction_types(include_restricted) & viewer.allowed_types,
        include_hidden=wants_hidden and viewer.may_see_hidden,
    )


def visible_run_filter(included_types: Iterable[str], include_hidden: bool) -> ColumnElement[bool]:
    """The one rule for which course runs the catalog shows (see the module docstring)."""
    included = sorted(set(included_types) & set(RESTRICTION_TYPES))
    restriction = (
        or_(CourseRun.restriction_type.is_(None), CourseRun.restriction_type.in_(included))
        if included
        else CourseRun.restriction_type.is_(None)
    )
    conditions = [CourseRun.is_source_run.is_(False), restriction]
    if not include_hidden:
        conditions.append(CourseRun.hidden.is_(False))
    return and_(*conditions)


def _run_filter(vis: Visibility) -> ColumnElement[bool]:
    return visible_run_filter(vis.included_types, vis.include_hidden)


def _program_filter(vis: Visibility) -> ColumnElement[bool]:
    return true() if vis.include_hidden else Program.hidden.is_(False)


# --------------------------------------------------------------------------- API tokens


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_types(token: ApiToken) -> frozenset[str]:
    return parse_restriction_types(token.allowed_restrictions)


def authenticate_token(presented: str, *, now: dt.datetime | None = None) -> ApiToken | None:
    """The live token with this value (looked up by its SHA-256), marked as used; None if unknown
    or revoked. The caller commits."""
    if not presented:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(presented)))
    if token is None or token.revoked_at is not None:
        return None
    token.last_used_at = now or utcnow()
    return token


def viewer_for_token(token: ApiToken) -> Viewer:
    """A token sees exactly the restriction types it was issued for, and never hidden runs."""
    return Viewer(allowed_types=token_types(token), may_see_hidden=False)


# --------------------------------------------------------------------------- pagination


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    size: int = 20


def _positive_int(raw: str, name: str, maximum: int) -> int:
    value = raw.strip()
    valid = value.isascii() and value.isdecimal() and len(value) <= len(str(maximum))
    if not valid or not 1 <= int(value) <= maximum:
        raise BadQuery(f"{name} must be a whole number from 1 to {maximum}, not {raw[:40]!r}.")
    return int(value)


def parse_page_request(
    args: Mapping[str, str], *, default_size: int = 20, max_size: int = 100
) -> PageRequest:
    """``page`` (1..1,000,000) and ``page_size`` (1..max_size) from the query string."""
    page = _positive_int(args["page"], "page", MAX_PAGE) if "page" in args else 1
    size = (
        _positive_int(args["page_size"], "page_size", max_size)
        if "page_size" in args
        else default_size
    )
    return PageRequest(page, size)


def _page(query: Select[Any], count: Select[int], request: PageRequest) -> Page[Any]:
    """One page of ``query``'s entities with the listing's total (``count``, run first); a page
    past the last one is ``PageNotFound``: the pages and the API show totals, so they can tell."""
    total = int(db.session.scalar(count) or 0)
    if request.page > 1 and (request.page - 1) * request.size >= total:
        last = max(1, math.ceil(total / request.size))
        raise PageNotFound(f"Invalid page: page {request.page} is past the last page, {last}.")
    return paginate(query, request.page, per_page=request.size, scalars=True, total=total)


# --------------------------------------------------------------------------- listings


@dataclass
class CourseListing:
    course: Course
    runs: list[CourseRun] = field(default_factory=list)


@dataclass
class ProgramListing:
    program: Program
    courses: list[CourseListing] = field(default_factory=list)


def _run_order() -> list[Any]:
    # Runs without a start date last, on every backend.
    return [CourseRun.start_at.is_(None), CourseRun.start_at, CourseRun.course_key]


def _runs_by_course(course_ids: Sequence[int], vis: Visibility) -> dict[int, list[CourseRun]]:
    """The visible runs of these courses in one query (not through ``Course.runs``, which keeps
    every run of the course for the rest of the request)."""
    grouped: dict[int, list[CourseRun]] = defaultdict(list)
    if not course_ids:
        return grouped
    runs = db.session.scalars(
        select(CourseRun)
        .where(CourseRun.course_id.in_(set(course_ids)), _run_filter(vis))
        .order_by(*_run_order())
    )
    for run in runs:
        grouped[run.course_id].append(run)
    return grouped


def _visible_runs_query(vis: Visibility) -> Select[CourseRun]:
    return (
        select(CourseRun)
        .join(CourseRun.course)
        .options(contains_eager(CourseRun.course))
        .where(_run_filter(vis))
    )


def list_runs(vis: Visibility, request: PageRequest) -> Page[CourseRun]:
    return _page(
        _visible_runs_query(vis).order_by(CourseRun.course_key),
        select(func.count(CourseRun.id)).where(_run_filter(vis)),
        request,
    )


def get_run(key: str, vis: Visibility) -> CourseRun | None:
    """A run's detail: None (404) for an unknown run and for a run this request may not see."""
    return db.session.scalar(_visible_runs_query(vis).where(CourseRun.course_key == key))


def list_courses(vis: Visibility, request: PageRequest) -> Page[CourseListing]:
    page = _page(
        select(Course).order_by(Course.title, Course.key), select(func.count(Course.id)), request
    )
    runs = _runs_by_course([c.id for c in page.items], vis)
    return replace(page, items=[CourseListing(c, runs.get(c.id, [])) for c in page.items])


def _offered(vis: Visibility) -> ColumnElement[bool]:
    """A course the catalog page lists: one with a run this request may see, or with no runs yet.
    A course whose every run is restricted (a contract's course) or hidden is not listed: it would
    be an entry with nothing to enroll in. Its own page stays (programs link to it), and the API
    keeps ADR 27's rule and lists it."""
    runs = select(CourseRun.id).where(CourseRun.course_id == Course.id)
    return or_(~runs.exists(), runs.where(_run_filter(vis)).exists())


def list_offered_courses(vis: Visibility, request: PageRequest) -> Page[CourseListing]:
    """The catalog page's courses (``_offered``), each with its visible runs."""
    offered = _offered(vis)
    page = _page(
        select(Course).where(offered).order_by(Course.title, Course.key),
        select(func.count(Course.id)).where(offered),
        request,
    )
    runs = _runs_by_course([c.id for c in page.items], vis)
    return replace(page, items=[CourseListing(c, runs.get(c.id, [])) for c in page.items])


def get_course(key: str, vis: Visibility) -> CourseListing | None:
    """The course itself is always returned (ADR 27 rule 5); its runs are filtered."""
    course = db.session.scalar(select(Course).where(Course.key == key))
    if course is None:
        return None
    return CourseListing(course, _runs_by_course([course.id], vis).get(course.id, []))


def _program_listings(programs: Sequence[Program], vis: Visibility) -> list[ProgramListing]:
    course_ids = [link.course_id for p in programs for link in p.course_links]
    runs = _runs_by_course(course_ids, vis)
    return [
        ProgramListing(
            p,
            [CourseListing(link.course, runs.get(link.course_id, [])) for link in p.course_links],
        )
        for p in programs
    ]


def _programs_query() -> Select[Program]:
    return select(Program).options(
        selectinload(Program.course_links).joinedload(ProgramCourse.course)
    )


def list_programs(vis: Visibility, request: PageRequest) -> Page[ProgramListing]:
    page = _page(
        _programs_query().where(_program_filter(vis)).order_by(Program.title, Program.key),
        select(func.count(Program.id)).where(_program_filter(vis)),
        request,
    )
    return replace(page, items=_program_listings(page.items, vis))


def get_program(key: str, vis: Visibility) -> ProgramListing | None:
    program = db.session.scalar(_programs_query().where(Program.key == key, _program_filter(vis)))
    return _program_listings([program], vis)[0] if program is not None else None


def iso_z(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as edX writes dates."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
