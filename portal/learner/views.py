"""The learner's pages."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import CourseRun, Enrollment, Membership

bp = Blueprint("learner", __name__)


@bp.get("/")
def dashboard() -> str:
    memberships = db.session.scalars(
        select(Membership)
        .options(joinedload(Membership.organization))
        .where(Membership.user_id == current_user.id)
    ).all()
    enrollments = db.session.scalars(
        select(Enrollment)
        .options(joinedload(Enrollment.course_run).joinedload(CourseRun.course))
        .where(Enrollment.user_id == current_user.id)
        .order_by(Enrollment.created_at.desc())
    ).all()
    return render_template(
        "learner/dashboard.html", memberships=memberships, enrollments=enrollments
    )
