"""Secure Acceptance signatures, written here independently of the portal's client, so the emulator
checks the portal rather than agreeing with it by construction.

``signature = base64(HMAC-SHA256(secret_key, "name=value,..."))`` over the fields named in
``signed_field_names``, in that order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


class BadRequestSignature(ValueError):
    """The request's signature or field lists are missing, malformed or wrong."""


def signature_for(fields: Mapping[str, str], names: list[str], secret_key: str) -> str:
    payload = ",".join(f"{name}={fields[name]}" for name in names)
    digest = hmac.new(secret_key.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_all(fields: dict[str, str], secret_key: str) -> dict[str, str]:
    """Sign every field of a response (as CyberSource does), ``signed_field_names`` included."""
    names = [*fields, "signed_field_names"]
    signed = {**fields, "signed_field_names": ",".join(names)}
    signed["signature"] = signature_for(signed, names, secret_key)
    return signed


def _names(raw: str) -> list[str]:
    return [name for name in raw.split(",") if name] if raw else []


def verify_request(fields: Mapping[str, str], secret_key: str) -> tuple[list[str], list[str]]:
    """Check a payment request; returns (signed names, unsigned names) or raises."""
    raw_names = fields.get("signed_field_names", "")
    signed = _names(raw_names)
    if not signed or len(signed) != len(raw_names.split(",")):
        raise BadRequestSignature("signed_field_names is missing or malformed")
    if len(set(signed)) != len(signed) or "signed_field_names" not in signed:
        raise BadRequestSignature("signed_field_names must list each field once, itself included")
    missing = [name for name in signed if name not in fields]
    if missing:
        raise BadRequestSignature(f"signed fields are missing: {', '.join(missing)}")
    given = fields.get("signature", "")
    expected = signature_for(fields, signed, secret_key)
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise BadRequestSignature("the signature does not match the signed fields")
    unsigned = _names(fields.get("unsigned_field_names", ""))
    stray = sorted(set(fields) - set(signed) - set(unsigned) - {"signature"})
    if stray:
        raise BadRequestSignature(
            f"fields neither signed nor declared unsigned: {', '.join(stray)}"
        )
    return signed, unsigned
