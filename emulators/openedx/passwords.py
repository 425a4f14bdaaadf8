"""Password hashing for emulated LMS accounts (PBKDF2-SHA256, like Django's default hasher)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_ITERATIONS = 20_000  # low on purpose: this is a test double, and tests register many users


def hash_password(password: str) -> str:
    """``pbkdf2_sha256$iterations$salt$hash``."""
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${salt}${base64.b64encode(digest).decode()}"


def check_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``; unusable (empty) hashes never match."""
    try:
        algorithm, iterations, salt, expected = encoded.split("$", 3)
    except ValueError:
        return False
    if algorithm != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(base64.b64encode(digest).decode(), expected)
