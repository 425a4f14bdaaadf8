"""Values every template may use."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_login import current_user

from portal.core.access import managed_organization_ids
from portal.models import utcnow


def template_globals() -> dict[str, Any]:
    def is_org_admin() -> bool:
        return bool(current_user.is_authenticated and managed_organization_ids(current_user))

    settings = current_app.config["PORTAL"]
    return {
        "now": utcnow(),
        "portal_mode": settings.mode,
        "nav_is_org_admin": is_org_admin() if current_user.is_authenticated else False,
        # The demo outbox (/outbox) is in the nav while mail is captured and someone is signed in.
        "nav_outbox": bool(settings.captures_mail and current_user.is_authenticated),
    }
