"""Organization admins' pages, scoped on the server to the organizations they manage.

Every route takes ``org_key`` and goes through ``org_admin_required``: a learner who manages nothing
gets 403, an admin asking for another organization gets 404. Routes under a contract load it with
``org_contract``, which also answers 404 unless the contract belongs to that organization.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.core.access import managed_organization_ids, org_admin_required
from portal.core.params import page_number
from portal.extensions import db
from portal.models import Contract, Organization
from portal.org_admin.charts import usage_chart
from portal.services.seat_usage import organization_usage

bp = Blueprint("org_admin", __name__)


def page_arg(name: str = "page") -> int:
    return page_number(request.args.get(name))


def org_contract(organization: Organization, contract_id: int) -> Contract:
    contract = db.session.scalar(
        select(Contract).where(
            Contract.id == contract_id, Contract.organization_id == organization.id
        )
    )
    if contract is None:
        abort(404)
    return contract


def org_contracts(organization: Organization) -> list[Contract]:
    return list(
        db.session.scalars(
            select(Contract)
            .where(Contract.organization_id == organization.id)
            .order_by(Contract.active.desc(), Contract.name, Contract.id)
        )
    )


def csv_response(rows: Iterable[list[str]], filename: str) -> Response:
    """Stream ``rows`` as a CSV download, a few hundred rows per chunk."""
    from flask import stream_with_context

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for n, row in enumerate(rows, start=1):
            writer.writerow(row)
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


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
    usages = organization_usage(organization)
    charts = {usage.contract.id: usage_chart(usage) for usage in usages}
    return render_template(
        "org_admin/overview.html",
        organization=organization,
        usages=usages,
        charts=charts,
        alerts=[u for u in usages if u.alert and u.contract.active],
    )


from portal.org_admin import codes, learners  # noqa: E402,F401 - add their routes to bp
