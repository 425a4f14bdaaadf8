"""Refuse requests carrying NUL characters (U+0000) in the path, query string or form fields.

No field of the portal may hold one, and PostgreSQL text columns cannot store or even compare them
(the driver raises), so a NUL anywhere would otherwise surface as a server error on PostgreSQL
while SQLite quietly accepts it. Refused up front with a 400 and nothing written."""

from __future__ import annotations

from flask import abort, request

MESSAGE = "The request contained a character that is not allowed (a NUL byte). Nothing was changed."


def refuse_nul_bytes() -> None:
    if "\x00" in request.path:
        abort(400, description=MESSAGE)
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400, description=MESSAGE)
