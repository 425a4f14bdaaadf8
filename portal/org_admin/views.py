"""Organization admins' pages, scoped on the server to the organizations they manage.

Every route takes ``org_key`` and goes through ``org_admin_required``: a learner who manages nothing
gets 403, an admin asking for another organization gets 404. Routes under a contract load it with
``services.organization_contracts.organization_contract``, which also answers 404 unless the
contract belongs to that organization.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template
from flask_login import current_user

from portal.core.access import org_admin_required
from portal.models import Organization, utcnow
from portal.org_admin.charts import completion_chart, usage_chart
from portal.services.organization_contracts import managed_organizations
from portal.services.outcomes import completions_by_contract, summaries_by_contract
from portal.services.seat_usage import CHART_DAYS, organization_usage

bp = Blueprint("org_admin", __name__)


@bp.get("/")
@org_admin_required
def index() -> str:
    return render_template(
        "org_admin/index.html", organizations=managed_organizations(current_user)
    )


@bp.get("/<org_key>/")
@org_admin_required
def overview(organization: Organization) -> str:
    usages = organization_usage(organization)
    charts = {usage.contract.id: usage_chart(usage) for usage in usages}
    ids = [usage.contract.id for usage in usages]
    outcomes = summaries_by_contract(ids)
    today = utcnow().date()
    series = completions_by_contract(ids, today - dt.timedelta(days=CHART_DAYS - 1), today)
    return render_template(
        "org_admin/overview.html",
        organization=organization,
        usages=usages,
        charts=charts,
        outcomes=outcomes,
        completion_charts={
            cid: completion_chart(series[cid], outcomes[cid].learners) for cid in ids
        },
        alerts=[u for u in usages if u.alert and u.contract.active],
    )


from portal.org_admin import (  # noqa: E402,F401 - add their routes to bp
    api_tokens,
    codes,
    learners,
    notices,
    reports,
)
