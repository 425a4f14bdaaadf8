"""The base of every form: text fields read text only.

Flask-WTF hands a form ``request.files`` and ``request.form`` together, so a file posted under a
text field's name reached validators that expect a string (a crash, not a form error). Here file
fields get the uploads and every other field gets only the submitted text."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import CombinedMultiDict, MultiDict


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
