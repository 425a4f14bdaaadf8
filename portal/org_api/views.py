"""The organization API's endpoints (``/api/org/v1/...``): read-only, paginated JSON about the
organization a bearer token belongs to (``auth.token_required``), and the OpenAPI document.

Scoping: every read goes through ``services.org_api`` with the token's organization, and a contract
of another organization is a 404 exactly like one that does not exist (never a 403: nobody learns
what another organization holds). Listings are ``{"count", "page", "page_size", "next",
"previous", "results"}``; a page past the last one is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from portal.core.domain_errors import NotFound
from portal.extensions import csrf
from portal.models import Contract, Organization
from portal.org_api import params
from portal.org_api.auth import token_required
from portal.org_api.openapi import document
from portal.org_api.params import BadParameter
from portal.org_api.representations import (
    code_json,
    contract_json,
    learner_json,
    organization_json,
    seat_json,
)
from portal.org_api.responses import api_error, paginated
from portal.services import org_api
from portal.services.organization_contracts import organization_contract

bp = Blueprint("org_api", __name__)
# Bearer tokens only: the API never reads the session cookie, so there is nothing to forge.
csrf.exempt(bp)


@bp.after_request
def _not_cached(response: Response) -> Response:
    if request.endpoint != "org_api.openapi":
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Authorization")
    return response


@bp.errorhandler(BadParameter)
def _bad_parameter(exc: BadParameter) -> Response:
    return api_error(400, "Bad query parameter", str(exc))


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return api_error(404, "Not found", exc.message)


@bp.errorhandler(429)
def _too_many(exc: Any) -> Response:
    # Flask-Limiter's after-request hook adds Retry-After and the X-RateLimit-* headers.
    return api_error(429, "Too many requests", str(getattr(exc, "description", "") or ""))


def _listing(found: org_api.Rows, wanted: params.PageRequest, to_json: Any) -> Response:
    if not found.rows and wanted.page > 1:
        last = max(1, -(-found.total // wanted.size))
        raise NotFound(f"There is no page {wanted.page}; the last page is {last}.")
    return paginated(found.total, wanted.page, wanted.size, [to_json(row) for row in found.rows])


def _contract_filter(organization: Organization) -> Contract | None:
    contract_id = params.object_id(request.args, "contract")
    return None if contract_id is None else organization_contract(organization, contract_id)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


@bp.get("/organization")
@token_required
def organization(organization: Organization) -> Response:
    return jsonify(organization_json(organization))


@bp.get("/contracts")
@token_required
def contracts(organization: Organization) -> Response:
    wanted = params.page_request(request.args)
    found = org_api.contracts(organization, wanted.page, wanted.size)
    return _listing(found, wanted, contract_json)


@bp.get("/contracts/<int:contract_id>")
@token_required
def contract(organization: Organization, contract_id: int) -> Response:
    return jsonify(contract_json(org_api.contract(organization, contract_id)))


@bp.get("/contracts/<int:contract_id>/seats")
@token_required
def seats(organization: Organization, contract_id: int) -> Response:
    wanted = params.page_request(request.args)
    status = params.choice(request.args, "status", org_api.SEAT_STATUSES, "active") or "active"
    found = org_api.seats(
        organization_contract(organization, contract_id), status, wanted.page, wanted.size
    )
    return _listing(found, wanted, seat_json)


@bp.get("/learners")
@token_required
def learners(organization: Organization) -> Response:
    wanted = params.page_request(request.args)
    status = params.choice(request.args, "status", org_api.OUTCOME_STATUSES)
    contract = _contract_filter(organization)
    found = org_api.learners(organization, contract, status, wanted.page, wanted.size)
    return _listing(found, wanted, learner_json)


@bp.get("/codes")
@token_required
def codes(organization: Organization) -> Response:
    wanted = params.page_request(request.args)
    status = params.choice(request.args, "status", org_api.CODE_STATUSES)
    contract = _contract_filter(organization)
    found = org_api.codes(organization, contract, status, wanted.page, wanted.size)
    return _listing(found, wanted, code_json)
