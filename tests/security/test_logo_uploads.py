"""Hostile logo uploads not already in ``tests/portal/test_staff_organizations.py``.

That file covers wrong types (HTML, SVG, GIF, BMP), truncated and oversized files, too many pixels,
a decompression bomb, a JPEG with a script appended and a PNG with a script in a tEXt chunk. Added
here: a PNG with HTML/JS after its IEND, a GIF/JS polyglot (valid as both, refused as a GIF), HTML
behind a PNG signature, scripts in zTXt, iTXt and a private chunk, a JPEG comment segment, a WebP with
XMP, and a hostile filename. Whatever is accepted is stored and served as a fresh PNG that starts
with the PNG signature, carries none of the payload, and is served ``image/png`` with ``nosniff``.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from tests.security.conftest import SecurityWorld, sign_in
from tests.support.snapshots import changes, snapshot
from tests.support.uploads import PNG_SIGNATURE, png_chunk, upload_logo

SCRIPT = b"<script>alert(document.cookie)</script>"
HTML = b"<html><body onload=alert(1)>" + SCRIPT + b"</body></html>"


def image(fmt: str, size: tuple[int, int] = (64, 32), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 30)).save(out, fmt, **save)
    return out.getvalue()


def png_with_chunk(kind: bytes, data: bytes) -> bytes:
    """A valid PNG with one more ancillary chunk just before IEND."""
    png = image("PNG")
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + png_chunk(kind, data) + png[iend:]


def gif_js_polyglot() -> bytes:
    """A file that is a valid GIF and a valid script: ``GIF89a`` then a width that opens a JS
    comment, the image, and ``*/=alert(1);`` after it (browsers run it if served as script)."""
    gif = bytearray(image("GIF", (10, 10)))
    gif[0:6] = b"GIF89a"
    gif[6:8] = b"/*"  # logical screen width 0x2A2F: still a valid GIF header
    return bytes(gif) + b"*/=alert(document.domain);//"


ACCEPTED = {
    "png + html after IEND": lambda: image("PNG") + HTML,
    "png + script in zTXt": lambda: png_with_chunk(
        b"zTXt", b"Comment\x00\x00" + zlib.compress(SCRIPT)
    ),
    "png + script in iTXt": lambda: png_with_chunk(
        b"iTXt", b"Comment\x00\x00\x00en\x00\x00" + SCRIPT
    ),
    "png + private chunk": lambda: png_with_chunk(b"htMl", HTML),
    "jpeg + comment": lambda: image("JPEG", comment=HTML),
    "webp + xmp": lambda: image("WEBP", xmp=b"<x:xmpmeta>" + SCRIPT + b"</x:xmpmeta>"),
}
REFUSED = {
    "gif/js polyglot": gif_js_polyglot,
    "html behind a png signature": lambda: PNG_SIGNATURE + HTML,
    "png header then html": lambda: image("PNG")[:33] + HTML,
    "js with an image name": lambda: b"alert(document.cookie)//" + PNG_SIGNATURE,
}


def served(client: FlaskClient) -> Any:
    response = client.get("/organizations/ACME/logo")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    return response.data


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_payloads_inside_valid_images_are_dropped(
    client: FlaskClient, world: SecurityWorld, db: Any, name: str
) -> None:
    sign_in(client, world.staff)
    data = ACCEPTED[name]()
    Image.open(io.BytesIO(data)).verify()  # the upload is a real image
    response = upload_logo(client, world.acme.id, data, "logo.png", "text/html")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    logo = served(client)
    assert logo.startswith(PNG_SIGNATURE)
    for needle in (b"<script", b"alert", b"<html", b"onload", b"xmpmeta", b"htMl", b"zTXt"):
        assert needle not in logo, needle
    assert Image.open(io.BytesIO(logo)).format == "PNG"
    assert b"IEND" in logo and logo.endswith(png_chunk(b"IEND", b""))  # nothing after the image


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_polyglots_and_disguised_files_are_refused_and_nothing_changes(
    client: FlaskClient, world: SecurityWorld, db: Any, name: str
) -> None:
    sign_in(client, world.staff)
    before_logo = served(client)
    before = snapshot(db)
    for filename, mimetype in (("logo.png", "image/png"), ("logo.gif", "image/gif")):
        response = upload_logo(client, world.acme.id, REFUSED[name](), filename, mimetype)
        assert response.status_code == 400
        assert "not a PNG, JPEG or WebP" in response.get_data(as_text=True)
    assert changes(before, snapshot(db)) == []
    assert served(client) == before_logo


def test_the_gif_polyglot_really_is_a_gif(world: SecurityWorld) -> None:
    polyglot = gif_js_polyglot()
    assert Image.open(io.BytesIO(polyglot)).format == "GIF"
    assert polyglot.startswith(b"GIF89a/*") and polyglot.endswith(b"//")


def test_a_hostile_filename_is_neither_used_nor_reflected(
    client: FlaskClient, world: SecurityWorld
) -> None:
    sign_in(client, world.staff)
    # (A '"' would end the multipart header's quoted filename; browsers send it as %22.)
    hostile = ("'><script>alert(1)</script>.png", "../../../../etc/passwd", "logo.png\x00.html")
    for filename in hostile:
        response = upload_logo(client, world.acme.id, image("PNG"), filename, "image/png")
        assert response.status_code == 302
        bad = upload_logo(client, world.acme.id, HTML, filename, "image/png")
        assert bad.status_code == 400
        assert "<script>alert(1)</script>" not in bad.get_data(as_text=True)
    assert served(client).startswith(PNG_SIGNATURE)
