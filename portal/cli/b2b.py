"""``flask --app portal b2b ...``: organizations, contracts, courseware and codes for automation.

Each command calls the same services as the staff forms, commits once, and reports refusals as a clear
message with a non-zero exit (``click.ClickException``). Audit events written while a command runs are
recorded with ``actor_kind="cli"``.
"""

from __future__ import annotations

import click

from portal.cli.b2b_codes import codes_group
from portal.cli.b2b_contracts import contract_group
from portal.cli.b2b_courseware import courseware_group
from portal.cli.b2b_organizations import org_group
from portal.cli.unit_of_work import mark_cli_events


@click.group("b2b")
@click.pass_context
def b2b_group(ctx: click.Context) -> None:
    """Organizations, contracts, courseware and codes (the staff console's services)."""
    ctx.call_on_close(mark_cli_events())


b2b_group.add_command(org_group)
b2b_group.add_command(contract_group)
b2b_group.add_command(courseware_group)
b2b_group.add_command(codes_group)
