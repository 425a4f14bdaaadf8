"""Plain HTML pages where a learner's links land: course home/about pages, dashboard, index."""

from __future__ import annotations

from flask import Blueprint, Response
from markupsafe import Markup

from .dates import format_datetime
from .enrollments import enrollable_run
from .keys import parse_course_key
from .state import emulator

bp = Blueprint("pages", __name__)

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'"
_TEMPLATE = Markup(
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>{title} | Open edX (emulator)</title><style>"
    "body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:46rem;padding:0 1rem;"
    "color:#1f2933}}header{{border-bottom:1px solid #ccd;margin-bottom:1rem}}"
    "dt{{font-weight:600}}dd{{margin:0 0 .5rem}}.note{{color:#52606d;font-size:.9rem}}"
    '</style></head><body><header><p class="note">Open edX emulator: LMS</p></header>{body}'
    '<p class="note"><a href="/dashboard">Dashboard</a></p></body></html>'
)


def _page(title: str, body: Markup, status: int = 200) -> Response:
    html = _TEMPLATE.format(title=title, body=body)
    response = Response(str(html), status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _CSP
    return response


@bp.get("/courses/<course_key>/")
@bp.get("/courses/<course_key>")
@bp.get("/courses/<course_key>/about")
@bp.get("/courses/<course_key>/course/")
@bp.get("/courses/<course_key>/courseware")
@bp.get("/courses/<course_key>/courseware/")
@bp.get("/learning/course/<course_key>/home")
def course_home(course_key: str) -> Response:
    """The learner's course page (edX: ``/courses/{key}/course/`` leads to the course home)."""
    run = enrollable_run(course_key) if parse_course_key(course_key) else None
    if run is None:
        return _page(
            "Page not found",
            Markup("<h1>Page not found</h1><p>No course <code>{}</code> here.</p>").format(
                course_key
            ),
            404,
        )
    rows = Markup("").join(
        Markup("<dt>{}</dt><dd>{}</dd>").format(label, value or "not set")
        for label, value in (
            ("Course key", run.key),
            ("Pacing", "Self-paced" if run.self_paced else "Instructor-paced"),
            ("Starts", format_datetime(run.start)),
            ("Ends", format_datetime(run.end)),
        )
    )
    body = Markup(
        '<h1>{title}</h1><dl>{rows}</dl><p class="note">This is a stand-in for the course '
        "home; course content is not emulated.</p>"
    ).format(title=run.title, rows=rows)
    return _page(run.title, body)


@bp.get("/dashboard")
@bp.get("/")
def dashboard() -> Response:
    """A list of the courses the LMS knows."""
    runs = [r for r in emulator().store.list_runs() if enrollable_run(r.key) is not None]
    items = Markup("").join(
        Markup('<li><a href="/courses/{key}/course/">{title}</a> <code>{key}</code></li>').format(
            key=run.key, title=run.title
        )
        for run in runs
    )
    return _page("Dashboard", Markup("<h1>Courses</h1><ul>{}</ul>").format(items))
