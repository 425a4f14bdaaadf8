"""Values every template may use."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context
from flask_login import current_user

from portal.core.access import managed_organization_ids
from portal.models import utcnow


def template_globals() -> dict[str, Any]:
    # Emails are rendered in jobs too, outside any request: nobody is signed in there.
    signed_in = has_request_context() and bool(current_user.is_authenticated)
    settings = current_app.config["PORTAL"]
    return {
        "now": utcnow(),
        "portal_mode": settings.mode,
        "nav_is_org_admin": bool(signed_in and managed_organization_ids(current_user)),
        # The demo outbox (/outbox) is in the nav while mail is captured and someone is signed in.
        "nav_outbox": bool(settings.captures_mail and signed_in),
    }
