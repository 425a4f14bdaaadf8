"""The public catalog. Restricted (contract) runs and hidden runs are never listed here."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import Course, CourseRun

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index() -> str:
    courses = (
        db.session.scalars(
            select(Course)
            .join(Course.runs)
            .options(contains_eager(Course.runs))
            .where(
                CourseRun.restriction_type.is_(None),
                CourseRun.hidden.is_(False),
                CourseRun.is_source_run.is_(False),
            )
            .order_by(Course.title, CourseRun.start_at)
        )
        .unique()
        .all()
    )
    return render_template("catalog/index.html", courses=courses)
