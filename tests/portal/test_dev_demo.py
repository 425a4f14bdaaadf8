"""``python3 dev.py demo`` starts from fresh demo data: its emulators keep nothing between runs, so
an earlier run's database would name users and course runs they no longer know."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT


def _dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_launcher", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dev_launcher", module)
    spec.loader.exec_module(module)
    return module


def _instance(tmp_path: Path) -> Path:
    for name in ("portal.sqlite", "portal.sqlite-wal", "secret_key", "portal-test.sqlite"):
        (tmp_path / name).write_text("x")
    return tmp_path


def test_a_new_demo_forgets_the_last_demos_database_and_keeps_the_secret_key(
    tmp_path: Path,
) -> None:
    instance = _instance(tmp_path)
    _dev().forget_last_demo({"PORTAL_MODE": "demo", "PORTAL_INSTANCE_PATH": str(instance)})
    assert sorted(p.name for p in instance.iterdir()) == ["portal-test.sqlite", "secret_key"]


def test_a_database_named_by_the_environment_or_another_mode_is_left_alone(
    tmp_path: Path,
) -> None:
    instance = _instance(tmp_path)
    dev = _dev()
    dev.forget_last_demo(
        {"PORTAL_MODE": "demo", "PORTAL_INSTANCE_PATH": str(instance), "DATABASE_URL": "x"}
    )
    dev.forget_last_demo({"PORTAL_MODE": "production", "PORTAL_INSTANCE_PATH": str(instance)})
    assert (instance / "portal.sqlite").exists() and (instance / "portal.sqlite-wal").exists()
