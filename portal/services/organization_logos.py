"""Organization logos (b2b-rules section 9): checked by their content, re-encoded to a clean PNG,
stored on the organization, audited with both digests."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import Organization, utcnow
from portal.services.audit import record_event

LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_PIXELS = 4096 * 4096  # checked on the header, before any pixel is decoded
LOGO_BOX = (256, 256)
LOGO_FORMATS = ("PNG", "JPEG", "WEBP")
LOGO_CONTENT_TYPE = "image/png"


class InvalidLogo(DomainError):
    code = "invalid_logo"


def process_logo(data: bytes) -> tuple[bytes, str]:
    """Check an uploaded logo by its content and re-encode it: PNG, JPEG or WebP only (whatever the
    name or declared type says), at most ``LOGO_MAX_BYTES`` and ``LOGO_MAX_PIXELS``; metadata and
    anything appended after the image are dropped, and the result is a fresh PNG that fits
    ``LOGO_BOX``. Raises ``InvalidLogo`` with the reason."""
    if not data:
        raise InvalidLogo("Choose an image file to upload.")
    if len(data) > LOGO_MAX_BYTES:
        raise InvalidLogo(f"That file is larger than {LOGO_MAX_BYTES // (1024 * 1024)} MB.")
    unreadable = "That file is not a PNG, JPEG or WebP image (or it is damaged)."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=LOGO_FORMATS) as probe:
                _check_pixels(probe.size)
                probe.verify()
            with Image.open(io.BytesIO(data), formats=LOGO_FORMATS) as image:
                _check_pixels(image.size)
                image.seek(0)
                image.load()
                upright = ImageOps.exif_transpose(image)
                has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
                    upright.mode == "P" and "transparency" in upright.info
                )
                mode = "RGBA" if has_alpha else "RGB"
                converted = upright.convert(mode)
                converted.thumbnail(LOGO_BOX, Image.Resampling.LANCZOS)
                # A new image from the raw pixels alone: no EXIF, ICC, text chunks or trailers.
                clean = Image.frombytes(mode, converted.size, converted.tobytes())
    except InvalidLogo:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidLogo("That image has too many pixels.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidLogo(unreadable) from exc
    out = io.BytesIO()
    clean.save(out, "PNG", optimize=True)
    return out.getvalue(), LOGO_CONTENT_TYPE


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1 or width * height > LOGO_MAX_PIXELS:
        raise InvalidLogo(
            f"That image is {width} x {height} pixels; logos may have at most "
            f"{LOGO_MAX_PIXELS:,} pixels (e.g. 4096 x 4096)."
        )


def _logo_state(org: Organization) -> dict[str, Any]:
    logo = org.logo
    return {
        "content_type": org.logo_content_type,
        "bytes": len(logo) if logo else 0,
        "sha256": hashlib.sha256(logo).hexdigest() if logo else None,
    }


def set_logo(org: Organization, data: bytes) -> None:
    """Validate, re-encode and store a logo (``process_logo``); audited with both digests."""
    encoded, content_type = process_logo(data)
    before = _logo_state(org)
    org.logo = encoded
    org.logo_content_type = content_type
    org.logo_updated_at = utcnow()
    db.session.flush()
    record_event(
        "organization.logo_set",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after=_logo_state(org),
    )


def remove_logo(org: Organization) -> bool:
    if not org.logo_content_type and not org.logo:
        return False
    before = _logo_state(org)
    org.logo = None
    org.logo_content_type = None
    org.logo_updated_at = utcnow()
    db.session.flush()
    record_event(
        "organization.logo_removed",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after=_logo_state(org),
    )
    return True
