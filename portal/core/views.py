"""Home page and health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import text
from werkzeug.wrappers import Response

from portal.extensions import db

bp = Blueprint("core", __name__)


@bp.get("/")
def home() -> str:
    return render_template("core/home.html")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Database and Redis reachability, for load balancers and operators."""
    checks: dict[str, str] = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
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
