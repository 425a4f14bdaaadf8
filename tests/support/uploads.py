"""Logo uploads as a browser sends them, and the PNG pieces the upload tests build images from."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from flask.testing import FlaskClient

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: its length, its kind, its data and their CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def upload_logo(client: FlaskClient, org_id: int, data: bytes, filename: str, mimetype: str) -> Any:
    """Staff's logo form posted for organization ``org_id`` with ``data`` as the file."""
    # The body is built here, in memory: the test client would spool a large one to a temporary
    # file it never closes (a ResourceWarning, an error under filterwarnings=error).
    boundary = "----portal-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="logo"; filename="{filename}"\r\n'
            f"Content-Type: {mimetype}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        f"/staff/organizations/{org_id}/logo",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


__all__ = ["PNG_SIGNATURE", "png_chunk", "upload_logo"]
