"""``b2b courseware ...``: course runs and programs on contracts."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from portal.cli.b2b_common import find_contract
from portal.cli.unit_of_work import refusals
from portal.core.text import plural
from portal.extensions import db
from portal.models import Contract, Course, CourseRun, Program
from portal.services import contract_runs


@click.group("courseware")
def courseware_group() -> None:
    """Course runs and programs on contracts."""


def _one_of(**given: str | None) -> tuple[str, str]:
    chosen = [(name, value) for name, value in given.items() if value]
    if len(chosen) != 1:
        raise click.ClickException(
            "Give exactly one of " + ", ".join(f"--{n}" for n in given) + "."
        )
    return chosen[0][0], str(chosen[0][1])


def _by_key(model: Any, column: Any, value: str, label: str) -> Any:
    found = db.session.scalar(select(model).where(column == value))
    if found is None:
        raise click.ClickException(f"No {label} has the key {value!r}.")
    return found


def _add(contract: Contract, kind: str, key: str) -> list[str]:
    if kind == "course":
        course = _by_key(Course, Course.key, key, "course")
        made = contract_runs.add_course(contract.id, course.id)
        return [f"Added course run {made.course_key}; a job creates it in edX."]
    if kind == "program":
        found = _by_key(Program, Program.key, key, "program")
        added = contract_runs.add_program(contract.id, found.id)
        return [
            f"Added program {found.key}: {plural(len(added.runs), 'new run')}.",
            *(f"  run {r.course_key}" for r in added.runs),
            *(f"  no source run: {c.key}" for c in added.without_source),
            *(f"  already on the contract: {c.key}" for c in added.already_there),
        ]
    found = _by_key(CourseRun, CourseRun.course_key, key, "course run")
    contract_runs.add_existing_run(contract.id, found.id)
    return [f"Attached run {found.course_key}."]


@courseware_group.command("add")
@click.option("--contract", "slug", required=True, help="Contract slug.")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--course", default=None, help="Course key: clone its source run for the contract.")
@click.option("--program", default=None, help="Program key: a contract run for each course.")
@click.option("--run", default=None, help="Existing course run key (not on any contract).")
def courseware_add(
    slug: str, org_key: str, course: str | None, program: str | None, run: str | None
) -> None:
    """Add a course, a program or an existing run to a contract."""
    with refusals():
        contract = find_contract(org_key, slug)
        kind, key = _one_of(course=course, program=program, run=run)
        lines = _add(contract, kind, key)
    click.echo("\n".join(lines))


@courseware_group.command("remove")
@click.option("--contract", "slug", required=True, help="Contract slug.")
@click.option("--org", "org_key", required=True, help="Organization key.")
@click.option("--program", default=None, help="Program key.")
@click.option("--run", default=None, help="Course run key.")
def courseware_remove(slug: str, org_key: str, program: str | None, run: str | None) -> None:
    """Remove a run or a program: runs with enrollments are kept with enrollment closed; empty runs
    are detached."""
    with refusals():
        contract = find_contract(org_key, slug)
        kind, key = _one_of(run=run, program=program)
        if kind == "run":
            found = _by_key(CourseRun, CourseRun.course_key, key, "course run")
            impacts = [contract_runs.remove_run(contract.id, found.id)]
        else:
            found = _by_key(Program, Program.key, key, "program")
            impacts = contract_runs.remove_program(contract.id, found.id)
        lines = [f"{i.run.course_key}: {i.action}" for i in impacts]
    click.echo(f"Removed {kind} {key}." + ("\n" + "\n".join(lines) if lines else ""))
