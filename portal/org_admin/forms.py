"""Org admins' forms: assign a code to one address or to a CSV of addresses, revoke a seat."""

from __future__ import annotations

import csv
import io
from collections import Counter

from flask_babel import gettext as _
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.core.forms import PortalForm
from portal.core.text import count_text, lazy_count
from portal.core.text import lazy_gettext as _l
from portal.services.code_assignment import MAX_BULK

MAX_UPLOAD = 512 * 1024
EMAIL_HEADERS = {"email", "e-mail", "email address", "mail"}


class AssignForm(PortalForm):
    email = StringField(
        _l("Email address"),
        [DataRequired(_l("Enter the address to send the code to.")), Length(max=254)],
        render_kw={"type": "email", "autocomplete": "off", "placeholder": "name@example.com"},
    )


class BulkAssignForm(PortalForm):
    has_file = True  # makes _forms.render_form send multipart/form-data
    file = FileField(
        _l("CSV file of email addresses"),
        [FileRequired(_l("Choose a CSV file."))],
        description=_l(
            "One address per row, in a column named “email” (or with no header row at all); "
            "up to %(max)s rows. Each row gets its own result.",
            max=lazy_count(MAX_BULK),
        ),
        render_kw={"accept": ".csv,text/csv,text/plain"},
    )


class RevokeSeatForm(PortalForm):
    reason = TextAreaField(
        _l("Reason"),
        [DataRequired(_l("Give a reason: it is recorded with the revocation.")), Length(max=500)],
        description=_l("Recorded in the audit log and visible to the portal's staff."),
    )
    confirm = BooleanField(
        _l("Yes, revoke this seat and end these enrollments"),
        [DataRequired(_l("Tick the box to confirm."))],
    )


class ConfirmForm(PortalForm):
    """A button with its CSRF token (remind, revoke an assignment)."""


class CsvInvalid(ValueError):
    """The upload is not a CSV of addresses we can read; the message says why."""


def _is_email_header(cell: str) -> bool:
    name = " ".join(cell.strip().lower().replace("_", " ").split())
    return name in EMAIL_HEADERS or name.endswith((" email", " e-mail"))


def _email_column(rows: list[list[str]]) -> tuple[int, list[list[str]]]:
    """Which column holds the addresses, and the rows to read (without the header, if any).

    A first row naming an email column ("email", "E-mail", "Work email"...) is the header. A first
    row holding an address is data (one address per row with no header is the simplest file), its
    addresses in the column of that address. Otherwise the addresses are in the column where the
    other rows have them, under a header ("Name,Address"), or under a first row that is a
    mistyped address (it has a dot: it gets its own "invalid email" result). A file with no
    address in any column is refused ("No email column found"), never read header first as
    addresses."""
    first = rows[0]
    for i, cell in enumerate(first):
        if _is_email_header(cell):
            return i, rows[1:]
    for i, cell in enumerate(first):
        if "@" in cell:
            return i, rows
    found = Counter(i for row in rows[1:] for i, cell in enumerate(row) if "@" in cell)
    if not found:
        named = ", ".join(f"“{cell.strip()}”" for cell in first if cell.strip())[:200]
        raise CsvInvalid(
            _(
                "No email column found: no column is named “email” and none holds addresses (the "
                "first row is %(first_row)s). Name the column of addresses “email”, or put one "
                "address per row.",
                first_row=named or _("empty"),
            )
        )
    column = min(found, key=lambda i: (-found[i], i))
    header = not any("." in cell for cell in first)
    return column, rows[1:] if header else rows


def read_addresses(data: bytes) -> list[str]:
    """The addresses in an uploaded CSV: the column headed "email" (or "E-mail", "Work email"...)
    if there is one, else, in a file without a header, the column of the first row's address;
    blank rows skipped. A header without an email column is refused ("No email column found"), as
    is anything else that is not such a file, with a clear message (``CsvInvalid``)."""
    if len(data) > MAX_UPLOAD:
        raise CsvInvalid(
            _("The file is larger than %(size)s KB; split it up.", size=MAX_UPLOAD // 1024)
        )
    if b"\x00" in data:
        raise CsvInvalid(_("That file is not a CSV text file."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise CsvInvalid(_("The file is not UTF-8 text; save it as “CSV UTF-8”.")) from None
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise CsvInvalid(_("The file could not be read as CSV: %(error)s.", error=exc)) from None
    if not rows:
        raise CsvInvalid(_("The file has no addresses in it."))
    column, rows = _email_column(rows)
    addresses = [row[column].strip() if column < len(row) else "" for row in rows]
    if not addresses:
        raise CsvInvalid(_("The file has a header row but no addresses under it."))
    if len(addresses) > MAX_BULK:
        raise CsvInvalid(
            _(
                "The file has %(rows)s rows; assign at most %(max)s at a time.",
                rows=count_text(len(addresses)),
                max=count_text(MAX_BULK),
            )
        )
    return addresses
