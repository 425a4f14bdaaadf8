"""Home page and health check."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    url_for,
)
from sqlalchemy import select, text
from sqlalchemy.orm import undefer
from werkzeug.wrappers import Response

from portal.core.text import group_code
from portal.extensions import db
from portal.models import Organization
from portal.services.codes import normalize_code

bp = Blueprint("core", __name__)
ALLOWED_LOGO_TYPES = {"image/png", "image/jpeg", "image/webp"}


@bp.get("/")
def home() -> str:
    return render_template("core/home.html")


@bp.get("/redeem/<code>")
def redeem_link(code: str) -> str:
    """The shareable redeem link. Signed-out visitors are sent through sign-in and come back here
    (deny by default keeps ``next``); the code is redeemed only when they press the button (POST)."""
    shown = group_code(normalize_code(code)[:64])  # as it is printed, whatever the link held
    return render_template("learner/redeem.html", code=shown, from_link=True)


@bp.get("/organizations/<org_key>/logo")
def org_logo(org_key: str) -> Response:
    """An organization's logo (stored re-encoded by the staff upload), with its own type."""
    org = db.session.scalar(
        select(Organization).options(undefer(Organization.logo)).where(Organization.key == org_key)
    )
    if org is None or not org.logo or org.logo_content_type not in ALLOWED_LOGO_TYPES:
        abort(404)
    response = make_response(org.logo)
    response.headers["Content-Type"] = org.logo_content_type
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico on pages that do not name an icon (error pages, downloads)."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Database and Redis reachability, for load balancers and operators."""
    checks: dict[str, str] = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # the 503 below rolls the request back
        checks["database"] = f"error: {type(exc).__name__}"
        healthy = False
    settings = current_app.config["PORTAL"]
    if settings.uses_redis:
        from portal.jobs.queue import redis_connection

        try:
            redis_connection().ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
            healthy = False
    else:
        checks["redis"] = "not used (jobs run in-process)"
    body = {"status": "ok" if healthy else "unhealthy", "mode": settings.mode, "checks": checks}
    return jsonify(body), 200 if healthy else 503
