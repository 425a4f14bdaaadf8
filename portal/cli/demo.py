"""``seed-demo`` and ``grant-staff``: setting up a portal by hand."""

from __future__ import annotations

import click
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from portal.cli.unit_of_work import refusals
from portal.extensions import db
from portal.models import User, normalize_email
from portal.services.audit import record_event


@click.command("seed-demo")
@click.option(
    "--no-contract-runs",
    is_flag=True,
    help="Skip creating the contracts' course runs (their jobs call Open edX).",
)
@click.option(
    "--no-seat-history",
    is_flag=True,
    help="Skip the demo learners who took seats over the last weeks (the org admin's chart).",
)
def seed_demo_command(no_contract_runs: bool, no_seat_history: bool) -> None:
    """Create the demo organizations, contracts, courses, program, users, codes and contract runs
    (idempotent)."""
    from portal.demo import seed_demo

    with refusals():
        created = seed_demo(contract_runs=not no_contract_runs, seat_history=not no_seat_history)
    if any(created.values()):
        click.echo("Created: " + ", ".join(f"{n} {k}" for k, n in created.items() if n))
    else:
        click.echo("Demo data already present; nothing created.")


@click.command("seed-demo-outcomes")
@click.option("--wait", default=120.0, show_default=True, help="Seconds to wait for the runs.")
def seed_demo_outcomes_command(wait: float) -> None:
    """Give demo learners grades, progress and certificates in the Open edX emulator and queue the
    outcome sync (needs the emulator and a worker; waits for the contract runs to reach edX)."""
    from portal.demo.outcomes import seed_demo_outcomes

    with refusals():
        done = seed_demo_outcomes(wait)
    click.echo(
        f"{done} demo learners have outcomes in edX; the worker syncs them now."
        if done
        else "The demo contract runs are not in edX yet; run this again once the worker made them."
    )


def _address(email: str) -> str:
    try:
        return normalize_email(validate_email(email.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc


@click.command("grant-staff")
@click.argument("email")
def grant_staff_command(email: str) -> None:
    """Make the user with EMAIL staff (creating the account, to be linked at first sign-in)."""
    address = _address(email)
    with refusals():
        user = db.session.scalar(select(User).where(User.email == address))
        if user is None:
            user = User(email=address)
            db.session.add(user)
            db.session.flush()
        before = {"is_staff": bool(user.is_staff)}
        user.is_staff = True
        record_event(
            "user.staff_granted",
            "user",
            user.id,
            before=before,
            after={"is_staff": True},
            actor_kind="cli",
        )
    click.echo(f"{address} is staff.")
