"""The base of every form: text fields read text only.

Flask-WTF hands a form ``request.files`` and ``request.form`` together, so a file posted under a
text field's name reached validators that expect a string (a crash, not a form error). Here file
fields get the uploads and every other field gets only the submitted text."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import DateTimeLocalField, Field, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from portal.core.text import LazyText
from portal.core.text import lazy_gettext as _l

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATE_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class PortalForm(FlaskForm):
    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            data = super().wrap_formdata(form, formdata)
            if not isinstance(data, CombinedMultiDict):
                return data
            file_fields = [f.name for f in form._fields.values() if isinstance(f, FileField)]
            merged: MultiDict[str, Any] = MultiDict(request.form)
            for name in file_fields:
                for upload in request.files.getlist(name):
                    merged.add(name, upload)
            return merged


def strip(value: Any) -> Any:
    """A filter: the text without surrounding white space."""
    return value.strip() if isinstance(value, str) else value


def no_control_characters(form: FlaskForm, field: Field) -> None:
    if isinstance(field.data, str) and CONTROL_CHARS.search(field.data):
        raise ValidationError(_("Remove the invisible control characters from this text."))


# A label or message: plain text, or one translated when it is shown.
Text = str | LazyText

# The validators of every free-text field.
TEXT = [no_control_characters]


def key_field(
    label: Text,
    pattern: re.Pattern[str],
    *,
    missing: Text,
    wrong: Text,
    max_length: int,
    **kw: Any,
) -> StringField:
    """A required identifier: trimmed, at most ``max_length``, matching ``pattern``."""
    checks = [InputRequired(missing), Length(max=max_length), Regexp(pattern, message=wrong)]
    return StringField(label, checks, filters=[strip], **kw)


TITLE = _l("Title")
TITLE_MISSING = _l("Enter a title.")


def title_field(
    label: Text = TITLE, *, missing: Text = TITLE_MISSING, max_length: int = 300
) -> StringField:
    return StringField(
        label, [InputRequired(missing), Length(max=max_length), *TEXT], filters=[strip]
    )


def date_field(label: Text) -> DateTimeLocalField:
    """An optional date and time, read as UTC."""
    return DateTimeLocalField(
        label,
        [Optional()],
        format=DATE_FORMATS,
        tz=dt.UTC,
        invalid_value_message=_l("Enter a date and time like 2026-09-01 09:00 (UTC)."),
    )
