"""The layers of docs/architecture.md, checked on the source: imports only go down, and no two
packages import each other (function-level imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Each part of the portal and its layer: a part may import its own layer's modules only within
# itself, and any part of a lower layer.
LAYERS: dict[str, float] = {
    # the composition root: create_app wires everything, and nothing imports it but the worker
    "app": 4,
    # the edge: the three kinds of callers of services
    "auth": 3,
    "learner": 3,
    "checkout": 3,
    "org_admin": 3,
    "staff": 3,
    "catalog": 3,
    "org_api": 3,
    "outbox": 3,
    "core.views": 3,
    "cli": 3,
    "tasks": 3,
    # demo tooling (seed-demo, the redeem page's sample codes in demo mode): outside the product's
    # services, called by the CLI and the learner's redeem page, so under them
    "demo": 2.5,
    # the rules
    "services": 2,
    # languages: the locale a request or an email speaks, dates and numbers in it, and the
    # language menu's one route; over core and the models, under the services that write words
    "i18n": 1.5,
    # what the rules stand on
    "core": 1,
    "jobs": 1,
    "integrations": 1,
    "models": 0,
    "extensions": 0.5,  # the bare extension objects, made with the models' base
    "config": 0,
    "sqlite_setup": 0,
}
# The worker process makes its app on first use: the one upward import, through a function.
ALLOWED = {("jobs", "app")}


def part_of(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "portal"
    if len(parts) == 1:
        return "app"
    if parts[1] == "core" and len(parts) > 2 and parts[2] == "views":
        return "core.views"
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PORTAL.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "portal"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "portal":
                continue
            found.add(node.module)
            if node.module == "portal":  # from portal import create_app / models
                found |= {f"portal.{a.name}" for a in node.names if a.name != "create_app"}
    return found


def edges() -> set[tuple[str, str, str]]:
    result = set()
    for path in PORTAL.rglob("*.py"):
        source = part_of(module_name(path))
        for target_module in imports_of(path):
            target = part_of(target_module)
            if target != source:
                result.add((source, target, f"{module_name(path)} -> {target_module}"))
    return result


def test_every_part_has_a_layer() -> None:
    parts = {part_of(module_name(p)) for p in PORTAL.rglob("*.py")}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


def upward(found: set[tuple[str, str, str]]) -> list[str]:
    return sorted(
        why
        for source, target, why in found
        if LAYERS.get(target, 9) >= LAYERS.get(source, -1) and (source, target) not in ALLOWED
    )


def cycles(found: set[tuple[str, str, str]]) -> list[str]:
    graph: dict[str, set[str]] = {}
    for source, target, _ in found:
        if (source, target) not in ALLOWED:
            graph.setdefault(source, set()).add(target)
    seen = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    seen.append(" -> ".join([*path, nxt]))
                elif nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return seen


def test_imports_only_go_down() -> None:
    wrong = upward(edges())
    assert wrong == [], "imports that go up or sideways:\n" + "\n".join(wrong)


def test_no_import_cycle_between_parts() -> None:
    assert cycles(edges()) == []


def test_the_checks_see_wrong_imports(tmp_path: Path) -> None:
    """A function-level import is found, and the imports the layers forbid are reported."""
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from portal.staff.views import bp\n    import portal.tasks.codes\n"
    )
    assert imports_of(module) == {"portal.staff.views", "portal.tasks.codes"}
    wrong = {
        ("services", "staff", "services.x -> portal.staff.views"),
        ("jobs", "tasks", "jobs.y -> portal.tasks.codes"),
        ("core", "services", "core.z -> portal.services.codes"),
        ("models", "services", "models.w -> portal.services.codes"),
    }
    assert len(upward(wrong)) == 4
    assert upward({("staff", "services", "ok"), ("jobs", "app", "allowed")}) == []
    assert cycles({("services", "core", "a"), ("core", "services", "b")})


def test_the_installed_package_is_the_portal_alone() -> None:
    """A production install gets the portal, not the emulators (they run from the checkout)."""
    import tomllib
    from fnmatch import fnmatch

    project = tomllib.loads((PORTAL.parent / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert any(fnmatch("portal.services", pattern) for pattern in include)
    assert not any(fnmatch(name, p) for name in ("emulators", "emulators.openedx") for p in include)
