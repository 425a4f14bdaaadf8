"""Emulator settings: documented defaults, overridden by the environment, then by ``create_app(config)``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SEED = Path(__file__).parent / "seed" / "demo.json"

DEFAULTS: dict[str, Any] = {
    # The service client (client-credentials grant). Its tokens belong to the global-staff service user.
    "OPENEDX_EMULATOR_CLIENT_ID": "b2b-portal",
    "OPENEDX_EMULATOR_CLIENT_SECRET": "demo-edx-secret",
    "OPENEDX_EMULATOR_SERVICE_USERNAME": "svc_b2b_portal",
    "OPENEDX_EMULATOR_SERVICE_EMAIL": "svc_b2b_portal@example.com",
    # Public client for the password grant (edX devstack's mobile/login client id), used by learners.
    "OPENEDX_EMULATOR_PUBLIC_CLIENT_ID": "login-service-client-id",
    # SQLite file for the state; empty means an in-memory database (state lost on restart).
    "OPENEDX_EMULATOR_DB": "",
    "OPENEDX_EMULATOR_SEED": str(DEFAULT_SEED),
    # JSON (a fault object, a list of them, or {"faults": [...], "unenrollable_after_clone_s": S}).
    "OPENEDX_EMULATOR_FAULTS": "",
    # Enforce edX's enrollment throttle (40/min per user, 120/min for staff). Off by default.
    "OPENEDX_EMULATOR_THROTTLE": "",
    "OPENEDX_EMULATOR_TOKEN_TTL": "36000",
}


@dataclass(frozen=True)
class Settings:
    """Resolved, typed settings of one emulator app."""

    client_id: str
    client_secret: str
    service_username: str
    service_email: str
    public_client_id: str
    db_path: str
    seed_path: str
    faults_json: str
    throttle: bool
    token_ttl: int


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def resolve(config: dict[str, Any] | None) -> Settings:
    """Merge defaults, environment and explicit config (in that order of precedence, lowest first)."""
    merged: dict[str, Any] = dict(DEFAULTS)
    for key in DEFAULTS:
        if key in os.environ:
            merged[key] = os.environ[key]
    merged.update(config or {})
    faults = merged["OPENEDX_EMULATOR_FAULTS"]
    if not isinstance(faults, str):
        faults = json.dumps(faults)
    try:
        ttl = int(merged["OPENEDX_EMULATOR_TOKEN_TTL"])
    except (TypeError, ValueError):
        ttl = 36000
    return Settings(
        client_id=str(merged["OPENEDX_EMULATOR_CLIENT_ID"]),
        client_secret=str(merged["OPENEDX_EMULATOR_CLIENT_SECRET"]),
        service_username=str(merged["OPENEDX_EMULATOR_SERVICE_USERNAME"]),
        service_email=str(merged["OPENEDX_EMULATOR_SERVICE_EMAIL"]),
        public_client_id=str(merged["OPENEDX_EMULATOR_PUBLIC_CLIENT_ID"]),
        db_path=str(merged["OPENEDX_EMULATOR_DB"] or ""),
        seed_path=str(merged["OPENEDX_EMULATOR_SEED"] or ""),
        faults_json=faults or "",
        throttle=_truthy(merged["OPENEDX_EMULATOR_THROTTLE"]),
        token_ttl=max(ttl, 1),
    )
