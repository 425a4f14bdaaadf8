"""CyberSource Secure Acceptance hosted checkout emulator: the payment page a B2B portal posts to,
and the REST refund call for the payments it approved (``rest.py``).

Start it with ``flask --app emulators.payment run --port 8195``; see ``README.md`` here.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.wrappers import Response

from . import pages, rest
from .config import Settings, resolve
from .state import EXTENSION_KEY, Delivery, Emulator, emulator

__all__ = ["Delivery", "Emulator", "Settings", "create_app", "emulator"]

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        # The return form posts the signed response to the merchant's receipt page.
        "form-action 'self' http: https:",
    ]
)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an emulator app. ``config`` keys override the ``CYBERSOURCE_EMULATOR_*`` environment."""
    app = Flask(__name__)
    app.extensions[EXTENSION_KEY] = Emulator(settings=resolve(config))
    app.register_blueprint(pages.bp)
    app.register_blueprint(rest.bp)
    app.register_blueprint(rest.admin_bp)
    app.after_request(_security_headers)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_here(exc: Exception) -> tuple[str, int]:
        code = getattr(exc, "code", 404) or 404
        return pages.error_page("There is no such page on the payment service.", code)

    return app
