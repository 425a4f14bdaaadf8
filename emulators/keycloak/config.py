"""Emulator settings, from the ``create_app`` config dict or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_REALMS_PATH = Path(__file__).parent / "realms" / "demo-realm.json"
MODES = ("26.6", "26.7")


@dataclass(frozen=True)
class EmulatorConfig:
    realms_path: str | None
    admin_username: str
    admin_password: str
    issuer_base: str | None
    mode: str

    @property
    def dedicated_org_roles(self) -> bool:
        """26.7+: manage-/view-/query-organizations and the member-route role conjunction."""
        return self.mode >= "26.7"


def load_config(overrides: dict[str, Any] | None) -> EmulatorConfig:
    values: dict[str, Any] = dict(overrides or {})

    def pick(key: str, default: str | None) -> str | None:
        if key in values:
            value = values[key]
            return None if value is None else str(value)
        return os.environ.get(key, default)

    realms = pick("KEYCLOAK_EMULATOR_REALMS", str(DEFAULT_REALMS_PATH))
    issuer = pick("KEYCLOAK_EMULATOR_ISSUER_BASE", None)
    mode = pick("KEYCLOAK_EMULATOR_MODE", "26.7") or "26.7"
    if mode not in MODES:
        raise ValueError(f"KEYCLOAK_EMULATOR_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    return EmulatorConfig(
        realms_path=realms or None,
        admin_username=pick("KC_BOOTSTRAP_ADMIN_USERNAME", "admin") or "admin",
        admin_password=pick("KC_BOOTSTRAP_ADMIN_PASSWORD", "admin") or "admin",
        issuer_base=issuer.rstrip("/") if issuer else None,
        mode=mode,
    )
