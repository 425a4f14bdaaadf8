"""The download link in each scheduled report email (``services.report_subscriptions``): a signed,
expiring link to the organization's learners CSV (the org admin learners export).

The link carries the subscription, the user and the period, signed with the app's ``SECRET_KEY``
under its own salt, valid ``REPORT_LINK_DAYS``. It opens the CSV only for that user while still an
admin of the organization, so a forwarded link or a removed admin gets nothing; an expired link is
a 410, a forged or altered one a 404.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, NamedTuple

from flask import current_app
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner
from sqlalchemy import exists, select

from portal.core.domain_errors import DomainError, NotFound
from portal.core.text import long_date, plural
from portal.extensions import db
from portal.models import Membership, Organization, ReportSubscription, User

LINK_SALT = "portal.scheduled-report.download"
PERIOD_KEY = re.compile(r"^\d{4}-(W\d{2}|\d{2})$")


class ReportLinkGone(DomainError):
    """A genuine report link that no longer opens anything: expired, or its subscription ended."""

    code = "report_link_gone"
    status = 410


class NotAnAdmin(DomainError):
    code = "not_org_admin"
    status = 403


def org_admin_exists(organization_id: Any, user_id: Any) -> Any:
    """EXISTS: that user is an admin (a manager member) of that organization (values or columns)."""
    return exists().where(
        Membership.organization_id == organization_id,
        Membership.user_id == user_id,
        Membership.is_manager.is_(True),
    )


def is_org_admin(organization_id: int, user_id: int) -> bool:
    return bool(db.session.scalar(select(org_admin_exists(organization_id, user_id))))


class _SignedAt(TimestampSigner):
    """A timestamp signer on the caller's clock (the run's ``now``), not the process's."""

    def __init__(self, *args: Any, at: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.at = at

    def get_timestamp(self) -> int:
        return int(self.at) if self.at is not None else super().get_timestamp()


def _serializer(now: dt.datetime | None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt=LINK_SALT,
        signer=_SignedAt,
        signer_kwargs={"at": now.timestamp() if now else None},
    )


def link_days() -> int:
    return int(current_app.config["PORTAL"].report_link_days)


def link_token(subscription: ReportSubscription, period_key: str, *, now: dt.datetime) -> str:
    """The token of a report link, signed at ``now``."""
    payload = {"s": subscription.id, "u": subscription.user_id, "p": period_key}
    return str(_serializer(now).dumps(payload))


class ReportLink(NamedTuple):
    subscription_id: int
    user_id: int
    period: str


def read_link(token: str, *, now: dt.datetime | None = None) -> ReportLink:
    """What a genuine, unexpired token says; ``ReportLinkGone`` if it expired, ``NotFound`` if
    it was not made by this portal or was changed."""
    max_age = link_days() * 86400
    try:
        data = _serializer(now).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        ended = (exc.date_signed or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=max_age)
        raise ReportLinkGone(
            plural(
                link_days(),
                "This report link expired on %(day)s: links work for %(num)s day. The next "
                "report brings a new one; the Learners page has the same CSV at any time.",
                "This report link expired on %(day)s: links work for %(num)s days. The next "
                "report brings a new one; the Learners page has the same CSV at any time.",
                day=long_date(ended),
            )
        ) from None
    except BadData:
        data = None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("s"), int)
        and isinstance(data.get("u"), int)
        and PERIOD_KEY.match(str(data.get("p")))
    ):
        raise NotFound("This report link is not valid. Open the whole link from the email.")
    return ReportLink(data["s"], data["u"], data["p"])


def downloadable_report(
    organization: Organization, user: User, token: str, *, now: dt.datetime | None = None
) -> tuple[ReportSubscription, ReportLink]:
    """The subscription a report link opens for ``user``: only the subscriber's own link, about
    ``organization``, while they are still one of its admins."""
    link = read_link(token, now=now)
    if link.user_id != user.id:
        raise NotFound("This report link is not valid for your account.")
    subscription = db.session.get(ReportSubscription, link.subscription_id)
    if subscription is None:
        raise ReportLinkGone(
            "This report's subscription was cancelled, so its links no longer work. The "
            "Learners page has the same CSV at any time."
        )
    if subscription.organization_id != organization.id or subscription.user_id != user.id:
        raise NotFound("This report link is not valid for your account.")
    if not is_org_admin(organization.id, user.id):
        raise NotAnAdmin(f"You are no longer an admin of {organization.name}.")
    return subscription, link
