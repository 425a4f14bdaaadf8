"""Strict security headers on every response (no inline scripts or styles anywhere)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from werkzeug.wrappers import Response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    settings = current_app.config["PORTAL"]
    # Forms post to us; a login or logout redirect after a POST goes to Keycloak, and checkout posts
    # to the payment page, so those origins are allowed as form targets and nothing else.
    form_targets = {
        "'self'",
        _origin(settings.keycloak_server_url),
        _origin(settings.cybersource_url),
    }
    form_targets.update(current_app.config.get("CSP_EXTRA_FORM_ACTION", ()))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action " + " ".join(sorted(t for t in form_targets if t)),
        ]
    )


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["PORTAL"].mode == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
