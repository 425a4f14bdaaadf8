"""Organization admins' pages, scoped on the server to the organizations they manage."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from portal.core.access import managed_organization_ids, org_admin_required
from portal.extensions import db
from portal.models import Contract, Organization, Seat

bp = Blueprint("org_admin", __name__)


@bp.get("/")
@org_admin_required
def index() -> str:
    ids = managed_organization_ids(current_user)
    query = select(Organization).order_by(Organization.name)
    if not current_user.is_staff:
        query = query.where(Organization.id.in_(ids))
    organizations = db.session.scalars(query).all()
    return render_template("org_admin/index.html", organizations=organizations)


@bp.get("/<org_key>/")
@org_admin_required
def overview(organization: Organization) -> str:
    seats = (
        select(Seat.contract_id, func.count(Seat.id).label("claimed"))
        .where(Seat.revoked_at.is_(None))
        .group_by(Seat.contract_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Contract, func.coalesce(seats.c.claimed, 0))
        .outerjoin(seats, seats.c.contract_id == Contract.id)
        .where(Contract.organization_id == organization.id)
        .order_by(Contract.name)
    ).all()
    return render_template("org_admin/overview.html", organization=organization, rows=rows)
