"""Command-line entry points (``flask --app portal ...``); each calls the same services as the web.

Every command that changes something runs in one transaction (``unit_of_work.refusals``): all of it
is committed, or none of it, and a refusal is a message with exit status 1.
"""

from __future__ import annotations

from flask import Flask

from portal.cli.b2b import b2b_group
from portal.cli.demo import grant_staff_command, seed_demo_command, seed_demo_outcomes_command
from portal.cli.scheduled import scheduler_command
from portal.cli.worker import jobs_group, worker_command


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(seed_demo_outcomes_command)
    app.cli.add_command(grant_staff_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(jobs_group)
    app.cli.add_command(b2b_group)
