"""Every CSV the portal writes, streamed, with formula neutralization in one place.

Rows are plain values; each cell goes through ``csv_safe`` here, so no producer can forget it: a
cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so
a spreadsheet shows it as text instead of running it (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO

from flask import stream_with_context
from werkzeug.wrappers import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 500


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _chunks(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for n, row in enumerate(rows, start=1):
        writer.writerow([csv_safe(cell) for cell in row])
        if n % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(rows: Iterable[Iterable[object]], out: IO[str]) -> int:
    """Write ``rows`` (the header first) to a file; returns the number of rows after the header."""
    counted = [-1]

    def counting() -> Iterator[Iterable[object]]:
        for row in rows:
            counted[0] += 1
            yield row

    for chunk in _chunks(counting()):
        out.write(chunk)
    return max(0, counted[0])


def csv_download(rows: Iterable[Iterable[object]], filename: str) -> Response:
    """Stream ``rows`` as a CSV attachment, a few hundred rows per chunk: memory stays flat."""
    response = Response(stream_with_context(_chunks(rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
