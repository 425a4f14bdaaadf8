"""Staff forms for organizations, their logos, their Keycloak link and their members.

Forms check everything they can before the view writes anything; what only the database can decide
(a key or alias someone else just took) comes back from the view as an error beside the field.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, Field, StringField, TextAreaField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from portal.core.forms import TEXT, PortalForm, Text, strip
from portal.core.text import lazy_gettext as _l
from portal.models import Organization
from portal.services.organization_logos import LOGO_MAX_BYTES
from portal.services.organizations import ORG_KEY_RE

# Keycloak aliases end up in URLs and the token claim: no spaces or '/' (keycloak.md 6.5).
ALIAS_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,254}$")
# ASCII addresses only: they are lower-cased here and compared by the database and Keycloak.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
ALIAS_HELP = _l("Lower-case letters, digits, '.', '_' and '-', e.g. acme.")


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _alias_field(label: Text, required: bool) -> StringField:
    first = InputRequired(_l("Enter the Keycloak alias.")) if required else Optional()
    return StringField(
        label,
        [
            first,
            Length(max=255),
            Regexp(
                ALIAS_RE, message=_l("Use lower-case letters, digits, '.', '_' and '-', e.g. acme.")
            ),
        ],
        filters=[_lower],
        description=ALIAS_HELP,
    )


class OrganizationForm(PortalForm):
    name = StringField(
        _l("Name"), [DataRequired(_l("Enter a name.")), Length(max=200), *TEXT], filters=[strip]
    )
    key = StringField(
        _l("Short key"),
        [
            InputRequired(_l("Enter a short key.")),
            Length(max=30, message=_l("The key may have at most 30 characters.")),
            Regexp(
                ORG_KEY_RE, message=_l("Use upper-case letters, digits and '_' only, e.g. ACME.")
            ),
        ],
        filters=[_upper],
        description=_l(
            "Up to 30 upper-case letters, digits or '_'. It is part of every contract "
            "course key in edX (course-v1:KEY+...), so it can't change once a contract has runs."
        ),
    )
    description = TextAreaField(_l("Description"), [Optional(), Length(max=10_000), *TEXT])
    keycloak_alias = _alias_field(_l("Keycloak alias (optional)"), required=False)
    active = BooleanField(_l("Active: its contracts are open to its learners"), default=True)

    def __init__(
        self,
        *args: Any,
        organization: Organization | None = None,
        key_locked: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(*args, obj=organization, **kw)
        self.organization = organization
        self.key_locked = key_locked
        if key_locked:
            self.key.description = _(
                "This organization's contracts have course runs whose edX keys are built from "
                "this key, so it can't change."
            )
            self.key.render_kw = {"readonly": True}
        if organization is not None and organization.keycloak_id:
            self.keycloak_alias.description = _(
                "Linked to Keycloak; Keycloak never changes an alias, so it can't change here."
            )
            self.keycloak_alias.render_kw = {"readonly": True}

    def validate_key(self, field: Field) -> None:
        org = self.organization
        if org is not None and self.key_locked and field.data != org.key:
            raise ValidationError(
                _(
                    "Contract course runs use this key, so it stays %(key)s; "
                    "create a new organization for a new key.",
                    key=org.key,
                )
            )

    def validate_keycloak_alias(self, field: Field) -> None:
        org = self.organization
        if org is not None and org.keycloak_id and (field.data or None) != org.keycloak_alias:
            raise ValidationError(
                _("Linked to Keycloak: the alias stays %(alias)s.", alias=org.keycloak_alias)
            )

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.data,
            "key": self.key.data,
            "description": self.description.data or "",
            "keycloak_alias": self.keycloak_alias.data or None,
            "active": bool(self.active.data),
        }


class LogoForm(PortalForm):
    has_file = True  # makes _forms.render_form send multipart/form-data
    logo = FileField(
        _l("Logo"),
        [FileRequired(_l("Choose an image file to upload."))],
        description=_l(
            "PNG, JPEG or WebP, at most %(size)s MB. It is "
            "checked, stripped of metadata and resized to fit 256 x 256 pixels.",
            size=LOGO_MAX_BYTES // (1024 * 1024),
        ),
        render_kw={"accept": "image/png,image/jpeg,image/webp"},
    )


class LinkKeycloakForm(PortalForm):
    alias = _alias_field(_l("Keycloak alias"), required=True)


class MemberForm(PortalForm):
    email = StringField(
        _l("Email"),
        [
            InputRequired(_l("Enter an email address.")),
            Length(max=320),
            Regexp(EMAIL_RE, message=_l("Enter an email address like name@example.com.")),
        ],
        filters=[_lower],
        description=_l("An account is made for a new address; the person signs in with it later."),
    )
    is_manager = BooleanField(_l("Org admin: sees this organization's seats, learners and codes"))
