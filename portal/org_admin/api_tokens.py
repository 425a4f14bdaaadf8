"""Org admins' API tokens page: the organization's tokens for the organization API
(``/api/org/v1``, docs/org-api.md), creating one (its value shown once, on the page the POST
answers), and revoking one. Every change is a POST with its CSRF token, and audited by
``services.org_api_tokens``."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from portal.core.access import org_admin_required
from portal.core.forms import PortalForm, strip
from portal.core.params import parse_id
from portal.core.text import lazy_gettext as _l
from portal.models import Organization, OrganizationApiToken
from portal.org_admin.views import bp
from portal.services import org_api_tokens as token_service


class CreateTokenForm(PortalForm):
    name = StringField(
        _l("Token name"),
        [DataRequired(_l("Name the token after what will use it.")), Length(max=200)],
        filters=[strip],
        description=_l("What will use it, e.g. “HR reporting”. Shown in this list, never secret."),
        render_kw={"autocomplete": "off", "maxlength": 200},
    )


class RevokeTokenForm(PortalForm):
    """One per token in the list: the token's id travels in the form, not in the URL."""

    token_id = HiddenField()
    confirm = BooleanField(
        _l("Yes, revoke it: whatever uses this token stops working at once"),
        [DataRequired(_l("Tick the box to confirm."))],
    )


def _page(
    organization: Organization,
    *,
    form: CreateTokenForm | None = None,
    created: OrganizationApiToken | None = None,
    value: str | None = None,
) -> str:
    return render_template(
        "org_admin/api_tokens.html",
        organization=organization,
        tokens=token_service.organization_tokens(organization),
        form=form or CreateTokenForm(formdata=None),
        revoke_form=RevokeTokenForm(formdata=None),
        created=created,
        value=value,
        api_base=current_app.config["PORTAL"].public_base_url.rstrip("/") + "/api/org/v1",
    )


@bp.get("/<org_key>/api-tokens")
@org_admin_required
def api_tokens(organization: Organization) -> str:
    return _page(organization)


@bp.post("/<org_key>/api-tokens")
@org_admin_required
def api_token_create(organization: Organization) -> Response | tuple[str, int]:
    form = CreateTokenForm()
    if not form.validate_on_submit():
        return _page(organization, form=form), 400
    token, value = token_service.issue_token(
        organization, form.name.data or "", created_by_id=int(current_user.id)
    )
    # The only time the value is shown: never stored, never cached.
    response = Response(_page(organization, created=token, value=value), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<org_key>/api-tokens/revoke")
@org_admin_required
def api_token_revoke(organization: Organization) -> Response | tuple[str, int]:
    form = RevokeTokenForm()
    token_id = parse_id(form.token_id.data)
    if token_id is None:
        flash(_("Choose the token to revoke from the list."), "error")
        return _page(organization), 400
    token = token_service.organization_token(organization, token_id)  # another's: 404
    if not form.validate_on_submit():
        flash(
            _("Tick the box beside “%(token)s” to confirm revoking it.", token=token.name), "error"
        )
        return _page(organization), 400
    if token_service.revoke_token(token):
        flash(_("Token “%(token)s” revoked: it no longer works.", token=token.name), "success")
    else:
        flash(_("Token “%(token)s” was already revoked.", token=token.name), "info")
    return redirect(url_for("org_admin.api_tokens", org_key=organization.key))


__all__ = ["api_token_create", "api_token_revoke", "api_tokens"]
