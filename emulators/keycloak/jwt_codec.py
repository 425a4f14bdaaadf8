"""Compact JWS encoding and verification (RS256 for tokens, HS512 for refresh tokens)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .keys import RealmKeys, b64url, b64url_decode


def _segment(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def sign_rs256(claims: dict[str, Any], keys: RealmKeys) -> str:
    key = keys.signing
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode("ascii")
    signature = key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def sign_hs512(claims: dict[str, Any], keys: RealmKeys) -> str:
    header = {"alg": "HS512", "typ": "JWT", "kid": keys.hmac_kid}
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode("ascii")
    signature = hmac.new(keys.hmac_secret, signing_input, hashlib.sha512).digest()
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def hmac_tag(keys: RealmKeys, value: str) -> str:
    return b64url(hmac.new(keys.hmac_secret, value.encode("utf-8"), hashlib.sha256).digest())


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a compact JWS, or None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def verify(token: str, keys: RealmKeys) -> dict[str, Any] | None:
    """Claims of ``token`` if its signature verifies with the realm's keys (no time checks)."""
    decoded = decode_unverified(token)
    if decoded is None:
        return None
    header, claims = decoded
    head, body, sig = token.split(".")
    signing_input = f"{head}.{body}".encode("ascii", errors="replace")
    try:
        signature = b64url_decode(sig)
    except ValueError:
        return None
    alg = header.get("alg")
    if alg == "RS256" and header.get("kid") == keys.signing.kid:
        try:
            keys.signing.private_key.public_key().verify(
                signature, signing_input, padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return None
        return claims
    if alg == "HS512" and header.get("kid") == keys.hmac_kid:
        expected = hmac.new(keys.hmac_secret, signing_input, hashlib.sha512).digest()
        return claims if hmac.compare_digest(expected, signature) else None
    return None
