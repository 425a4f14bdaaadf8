"""Org admins' forms: assign a code to one address or to a CSV of addresses, revoke a seat."""

from __future__ import annotations

import csv
import io

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.core.forms import PortalForm
from portal.services.code_assignment import MAX_BULK

MAX_UPLOAD = 512 * 1024
EMAIL_HEADERS = {"email", "e-mail", "email address", "mail"}


class AssignForm(PortalForm):
    email = StringField(
        "Email address",
        [DataRequired("Enter the address to send the code to."), Length(max=254)],
        render_kw={"type": "email", "autocomplete": "off", "placeholder": "name@example.com"},
    )


class BulkAssignForm(PortalForm):
    has_file = True  # makes _forms.render_form send multipart/form-data
    file = FileField(
        "CSV file of email addresses",
        [FileRequired("Choose a CSV file.")],
        description=(
            f"One address per row, in the first column or a column named “email”; up to "
            f"{MAX_BULK:,} rows. Each row gets its own result."
        ),
        render_kw={"accept": ".csv,text/csv,text/plain"},
    )


class RevokeSeatForm(PortalForm):
    reason = TextAreaField(
        "Reason",
        [DataRequired("Give a reason: it is recorded with the revocation."), Length(max=500)],
        description="Recorded in the audit log and visible to the portal's staff.",
    )
    confirm = BooleanField(
        "Yes, revoke this seat and end these enrollments",
        [DataRequired("Tick the box to confirm.")],
    )


class ConfirmForm(PortalForm):
    """A button with its CSRF token (remind, revoke an assignment)."""


class CsvInvalid(ValueError):
    """The upload is not a CSV of addresses we can read; the message says why."""


def read_addresses(data: bytes) -> list[str]:
    """The addresses in an uploaded CSV: the column headed "email" if there is one, else the first
    column; blank rows skipped. Raises ``CsvInvalid`` with a clear message otherwise."""
    if len(data) > MAX_UPLOAD:
        raise CsvInvalid(f"The file is larger than {MAX_UPLOAD // 1024} KB; split it up.")
    if b"\x00" in data:
        raise CsvInvalid("That file is not a CSV text file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise CsvInvalid("The file is not UTF-8 text; save it as “CSV UTF-8”.") from None
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise CsvInvalid(f"The file could not be read as CSV: {exc}.") from None
    if not rows:
        raise CsvInvalid("The file has no addresses in it.")
    column = 0
    header = [cell.strip().lower() for cell in rows[0]]
    if any(cell in EMAIL_HEADERS for cell in header):
        column = next(i for i, cell in enumerate(header) if cell in EMAIL_HEADERS)
        rows = rows[1:]
    addresses = [row[column].strip() if column < len(row) else "" for row in rows]
    if not addresses:
        raise CsvInvalid("The file has a header row but no addresses under it.")
    if len(addresses) > MAX_BULK:
        raise CsvInvalid(
            f"The file has {len(addresses):,} rows; assign at most {MAX_BULK:,} at a time."
        )
    return addresses
