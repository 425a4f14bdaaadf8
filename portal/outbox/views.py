"""The demo outbox: captured emails, scoped in SQL to who may read them.

It exists only while ``MAIL_BACKEND=outbox``: the factory registers the blueprint only then, and
every route answers 404 otherwise as well. Anyone signed in may open it (the app is deny-by-default)
and sees only ``services.mail.visible_messages``; a message they may not read is a 404, the same as
one that does not exist.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user
from sqlalchemy.orm import load_only

from portal.core.pagination import paginate, requested_page
from portal.core.sorting import Sorting
from portal.extensions import db
from portal.models import Organization, OutboxMessage
from portal.services.mail import visible_messages

bp = Blueprint("outbox", __name__)
PAGE_SIZE = 50
MAX_LINKS = 50
_LINK = re.compile(r"https?://[^\s<>\"'`]+")
_TRAILING = ".,;:!?)]}'\""
OUTBOX_SORTING = Sorting(
    columns={
        "created": OutboxMessage.created_at,
        "to": OutboxMessage.to_email,
        "subject": OutboxMessage.subject,
    },
    default="-created",
    tiebreak=OutboxMessage.id,
    descending_first={"created"},
)


@bp.before_request
def only_while_capturing() -> None:
    if not current_app.config["PORTAL"].captures_mail:
        abort(404)


def links_in(text: str) -> list[str]:
    """The http(s) links in a text body, in order, once each (shown as text, never as anchors)."""
    found: list[str] = []
    for match in _LINK.finditer(text or ""):
        link = match.group(0).rstrip(_TRAILING)
        if link not in found:
            found.append(link)
        if len(found) >= MAX_LINKS:
            break
    return found


@bp.get("/")
def index() -> str:
    query = visible_messages(current_user).options(
        load_only(
            OutboxMessage.to_email,
            OutboxMessage.subject,
            OutboxMessage.created_at,
            OutboxMessage.sent_at,
            OutboxMessage.error,
        )
    )
    sort = OUTBOX_SORTING.read(request.args)
    page = paginate(
        sort.order(query),
        requested_page(request.args),
        per_page=PAGE_SIZE,
        scalars=True,
        count=True,
        key=OutboxMessage.id,
        sort=sort,
    )
    return render_template("outbox/index.html", page=page)


@bp.get("/<int:message_id>")
def message(message_id: int) -> str:
    found = db.session.scalar(visible_messages(current_user).where(OutboxMessage.id == message_id))
    if found is None:
        abort(404)
    organization = (
        db.session.get(Organization, found.organization_id) if found.organization_id else None
    )
    return render_template(
        "outbox/message.html",
        message=found,
        organization=organization,
        links=links_in(found.body_text),
    )
