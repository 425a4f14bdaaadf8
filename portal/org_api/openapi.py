"""The OpenAPI 3.1 document of the organization API, served at ``/api/org/v1/openapi.json``.

Written out by hand: the paths, parameters and error responses here, the resources' schemas in
``schemas.py`` next to ``representations.py`` whose fields they describe. The tests validate the
document and every endpoint's answer against its schema, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import current_app

from portal.org_api.auth import DEFAULT_RATE_LIMIT
from portal.org_api.params import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from portal.org_api.schemas import INTEGER, STRING, ref, schemas
from portal.services.org_api import CODE_STATUSES, OUTCOME_STATUSES, SEAT_STATUSES


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _parameters() -> dict[str, Any]:
    return {
        "page": _query(
            "page",
            {**INTEGER, "minimum": 1, "maximum": 100_000, "default": 1},
            "Page number, from 1.",
        ),
        "page_size": _query(
            "page_size",
            {**INTEGER, "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
            f"Rows per page, at most {MAX_PAGE_SIZE}.",
        ),
        "contract": _query("contract", {**INTEGER, "minimum": 1}, "Only this contract's rows."),
        "learner_status": _query(
            "status", {"enum": list(OUTCOME_STATUSES)}, "Only learners with this status."
        ),
        "code_status": _query(
            "status", {"enum": list(CODE_STATUSES)}, "Only codes with this status."
        ),
        "seat_status": _query(
            "status",
            {"enum": list(SEAT_STATUSES), "default": "active"},
            "Seats held now (active), revoked ones, or all.",
        ),
        "contract_id": {
            "name": "contract_id",
            "in": "path",
            "required": True,
            "schema": {**INTEGER, "minimum": 1},
        },
    }


def _error(description: str, **headers: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref("schemas", "Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _responses() -> dict[str, Any]:
    return {
        "BadRequest": _error("A query parameter is not understood; the detail says which."),
        "Unauthorized": _error(
            "No token, or an unknown or revoked one.",
            **{"WWW-Authenticate": {"schema": STRING, "description": "Bearer"}},
        ),
        "NotFound": _error("No such object in your organization (or a page past the last one)."),
        "TooManyRequests": _error(
            f"Over this token's rate limit ({DEFAULT_RATE_LIMIT} unless set otherwise).",
            **{"Retry-After": {"schema": INTEGER, "description": "Seconds to wait"}},
        ),
    }


def _get(
    operation: str, summary: str, schema: str, parameters: list[str], *, not_found: bool
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": summary,
            "content": {"application/json": {"schema": ref("schemas", schema)}},
        },
        "401": ref("responses", "Unauthorized"),
        "429": ref("responses", "TooManyRequests"),
    }
    if any(
        p in parameters
        for p in ("page", "contract", "learner_status", "code_status", "seat_status")
    ):
        responses["400"] = ref("responses", "BadRequest")
    if not_found:
        responses["404"] = ref("responses", "NotFound")
    return {
        "get": {
            "summary": summary,
            "operationId": operation,
            "parameters": [ref("parameters", p) for p in parameters],
            "responses": dict(sorted(responses.items())),
        }
    }


def _paths() -> dict[str, Any]:
    paged = ["page", "page_size"]
    return {
        "/organization": _get(
            "getOrganization", "The token's organization", "Organization", [], not_found=False
        ),
        "/contracts": _get(
            "listContracts",
            "The organization's contracts, by id",
            "ContractPage",
            paged,
            not_found=True,
        ),
        "/contracts/{contract_id}": _get(
            "getContract", "One contract", "Contract", ["contract_id"], not_found=True
        ),
        "/contracts/{contract_id}/seats": _get(
            "listSeats",
            "Who holds a seat on the contract, newest claim first",
            "SeatPage",
            ["contract_id", "seat_status", *paged],
            not_found=True,
        ),
        "/learners": _get(
            "listLearners",
            "Learners and their outcomes per course run, by enrollment",
            "LearnerPage",
            ["contract", "learner_status", *paged],
            not_found=True,
        ),
        "/codes": _get(
            "listCodes",
            "The organization's enrollment codes, newest first",
            "CodePage",
            ["contract", "code_status", *paged],
            not_found=True,
        ),
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


@functools.cache
def _document(base_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Organization API",
            "version": "1",
            "description": (
                "Read-only data about one organization: its contracts, seats, learners with their "
                "outcomes, and enrollment codes. Authenticate with a token your organization's "
                "admins create on the portal (Organization → API tokens)."
            ),
        },
        "servers": [{"url": f"{base_url.rstrip('/')}/api/org/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An organization API token",
                }
            },
            "schemas": schemas(),
            "parameters": _parameters(),
            "responses": _responses(),
        },
    }


def document() -> dict[str, Any]:
    """The document, its server on this portal's PUBLIC_BASE_URL."""
    return _document(str(current_app.config["PORTAL"].public_base_url))
