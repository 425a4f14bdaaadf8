"""Acceptance: the npm package ``@keycloak/keycloak-admin-client`` runs js/scenario.mjs cleanly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"


def _ensure_node_modules(npm: str) -> None:
    if (JS_DIR / "node_modules" / "@keycloak" / "keycloak-admin-client").is_dir():
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"


def test_npm_admin_client_scenario(kc_base_url: str) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "node and npm are needed for the @keycloak/keycloak-admin-client scenario"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    _ensure_node_modules(npm)
    result = subprocess.run(
        [node, "scenario.mjs", kc_base_url],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"scenario failed:\n{result.stdout}\n{result.stderr}"
    assert "npm scenario ok" in result.stdout
