"""Staff forms for contracts and their codes.

Each form checks what it can before anything is written, with messages that say what to enter
instead; the services check the rules again inside the contract row lock (seats already claimed,
codes already used), and those refusals come back beside the form too.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from portal.core.forms import TEXT, PortalForm, date_field, strip, title_field
from portal.core.text import lazy_count
from portal.core.text import lazy_gettext as _l
from portal.models import Contract, MembershipType, Organization, RedemptionType
from portal.services.codes import MAX_BATCH
from portal.services.contracts import MAX_SEAT_LIMIT

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_PRICE = Decimal("1000000")
MEMBERSHIP_CHOICES = [
    SelectChoice(
        MembershipType.AUTO.value, _l("auto: every member signed in through the organization")
    ),
    SelectChoice(MembershipType.CODE.value, _l("code: whoever redeems a valid code")),
    SelectChoice(
        MembershipType.MANAGED.value,
        _l("managed: a valid code and the organization's own sign-in"),
    ),
]
REDEMPTION_CHOICES = [
    SelectChoice(RedemptionType.ONE_TIME.value, _l("one-time: one use in all")),
    SelectChoice(
        RedemptionType.ONE_PER_LEARNER.value, _l("one per learner: any learner, once each")
    ),
    SelectChoice(RedemptionType.MULTI_USE.value, _l("multi-use: up to a number of uses")),
]
UNLIMITED_WARNING = _l(
    "An unlimited code or managed contract gets one multi-use code: anyone who gets hold of it "
    "(a forwarded email, a screenshot) can join."
)


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:100].strip("-")
    return slug or "contract"


def _to_int(value: Any) -> int:
    """Coerce a choice to int; anything else becomes an id no choice has."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _finite(form: PortalForm, field: Field) -> None:
    if isinstance(field.data, Decimal) and not field.data.is_finite():
        raise ValidationError(_("Enter an amount like 149.00."))


def _seat_limit_field() -> IntegerField:
    return IntegerField(
        _l("Seat limit"),
        [
            Optional(),
            NumberRange(
                0,
                MAX_SEAT_LIMIT,
                _l("Enter a whole number from 0 to %(max)s.", max=lazy_count(MAX_SEAT_LIMIT)),
            ),
        ],
        description=_l("How many learners may hold a seat. Leave empty when seats are unlimited."),
    )


def _check_seats(form: PortalForm) -> None:
    """Seats are a number or explicitly unlimited, never both and never neither."""
    raw = (form.seat_limit.raw_data or [""])[0]
    entered = bool(str(raw).strip())
    if form.unlimited_seats.data and entered:
        raise ValidationError(_("Either tick 'Unlimited seats' or enter a limit, not both."))
    if not form.unlimited_seats.data and not entered:
        raise ValidationError(
            _("Enter a seat limit, or tick 'Unlimited seats' (0 means no seats, not unlimited).")
        )


class ContractForm(PortalForm):
    """New contract (with organization, type and seats) or edit (descriptive fields only: type
    and seats have their own pages with a preview)."""

    organization_id = SelectField(
        _l("Organization"),
        coerce=_to_int,
        invalid_choice_message=_l("Choose one of the organizations listed."),
    )
    name = title_field(_l("Name"), missing=_l("Enter a name."), max_length=200)
    slug = StringField(
        _l("Short name (slug)"),
        [
            Optional(),
            Length(max=100),
            Regexp(SLUG_RE, message=_l("Use lower-case letters, digits and single dashes.")),
        ],
        filters=[strip],
        description=_l("Unique within the organization; left empty, it is made from the name."),
    )
    description = TextAreaField(_l("Description"), [Optional(), Length(max=10_000), *TEXT])
    welcome_message = TextAreaField(_l("Welcome message"), [Optional(), Length(max=10_000), *TEXT])
    membership_type = SelectField(
        _l("Membership type"),
        choices=MEMBERSHIP_CHOICES,
        default=MembershipType.CODE.value,
        invalid_choice_message=_l("Choose auto, code or managed."),
    )
    start_at = date_field(_l("Starts (UTC)"))
    end_at = date_field(_l("Ends (UTC)"))
    unlimited_seats = BooleanField(_l("Unlimited seats"), description=UNLIMITED_WARNING)
    seat_limit = _seat_limit_field()
    price_per_learner = DecimalField(
        _l("Price per learner"),
        [
            Optional(),
            _finite,
            NumberRange(0, MAX_PRICE, _l("Enter a price from 0 to 1,000,000 (not negative).")),
        ],
        places=2,
        description=_l(
            "Paid once per learner for the whole contract (every course run and program "
            "in it), in USD; codes can take a discount off it. Leave empty or 0 for a free "
            "contract."
        ),
    )
    seat_revoke_allowed = BooleanField(_l("Org admins may revoke learners' seats"), default=True)

    def __init__(
        self,
        *args: Any,
        organizations: list[Organization] | None = None,
        contract: Contract | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, obj=contract, **kwargs)
        self.contract = contract
        if contract is not None:
            for name in ("organization_id", "membership_type", "unlimited_seats", "seat_limit"):
                delattr(self, name)
        else:
            self.organization_id.choices = [
                SelectChoice(str(o.id), f"{o.name} ({o.key})") for o in organizations or []
            ]

    def validate_end_at(self, field: Field) -> None:
        if field.data and self.start_at.data and field.data <= self.start_at.data:
            raise ValidationError(_("The contract must end after it starts."))

    def validate_unlimited_seats(self, field: Field) -> None:
        _check_seats(self)

    def values(self) -> dict[str, Any]:
        price = self.price_per_learner.data
        values: dict[str, Any] = {
            "name": self.name.data,
            "slug": self.slug.data or slugify(self.name.data),
            "description": self.description.data or "",
            "welcome_message": self.welcome_message.data or "",
            "start_at": self.start_at.data,
            "end_at": self.end_at.data,
            "price_per_learner": None if price is None else price.quantize(Decimal("0.01")),
            "seat_revoke_allowed": bool(self.seat_revoke_allowed.data),
        }
        if self.contract is None:
            values["membership_type"] = MembershipType(self.membership_type.data)
            values["unlimited_seats"] = bool(self.unlimited_seats.data)
            values["seat_limit"] = self.seat_limit.data
        return values


class MembershipTypeForm(PortalForm):
    membership_type = SelectField(
        _l("New membership type"),
        choices=MEMBERSHIP_CHOICES,
        invalid_choice_message=_l("Choose auto, code or managed."),
    )
    confirm = BooleanField(_l("I have read who gains and who loses access; change it"))

    def __init__(self, *args: Any, contract: Contract, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contract = contract
        if not self.is_submitted():
            self.membership_type.data = contract.membership_type.value

    def validate_membership_type(self, field: Field) -> None:
        if field.data == self.contract.membership_type.value:
            raise ValidationError(
                _("The contract is already a %(type)s contract.", type=field.data)
            )

    @property
    def new_type(self) -> MembershipType:
        return MembershipType(self.membership_type.data)


class SeatLimitForm(PortalForm):
    unlimited_seats = BooleanField(_l("Unlimited seats"), description=UNLIMITED_WARNING)
    seat_limit = _seat_limit_field()
    confirm = BooleanField(_l("I have read what happens to the codes; change the seats"))

    def __init__(self, *args: Any, contract: Contract, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_submitted():
            self.unlimited_seats.data = contract.unlimited_seats
            self.seat_limit.data = contract.seat_limit

    def validate_unlimited_seats(self, field: Field) -> None:
        _check_seats(self)

    @property
    def new_limit(self) -> int | None:
        return None if self.unlimited_seats.data else self.seat_limit.data


class ConfirmForm(PortalForm):
    confirm = BooleanField(
        _l("Yes, I understand the impact above"), [DataRequired(_l("Tick the box to confirm."))]
    )


class BatchForm(PortalForm):
    count = IntegerField(
        _l("How many codes"),
        [
            InputRequired(_l("Enter how many codes to generate.")),
            NumberRange(
                1,
                MAX_BATCH,
                _l("Enter a whole number from 1 to %(max)s.", max=lazy_count(MAX_BATCH)),
            ),
        ],
        description=_l(
            "More than 1,000 are made by a background job; its progress shows on the contract page."
        ),
    )
    redemption_type = SelectField(
        _l("Redemption type"),
        choices=REDEMPTION_CHOICES,
        default=RedemptionType.ONE_TIME.value,
        invalid_choice_message=_l("Choose one-time, one per learner or multi-use."),
    )
    max_uses = IntegerField(
        _l("Uses per code (multi-use only)"),
        [
            Optional(),
            NumberRange(1, 1_000_000, _l("Enter a whole number from 1 to 1,000,000.")),
        ],
        description=_l(
            "Left empty, a multi-use code has no use limit (the seat limit still applies)."
        ),
    )
    activates_at = date_field(_l("Valid from (UTC, optional)"))
    expires_at = date_field(_l("Expires (UTC, optional)"))
    discount_percent = DecimalField(
        _l("Discount, percent (optional)"),
        [Optional(), NumberRange(0.01, 100, _l("Enter a percentage above 0 and at most 100."))],
        places=2,
        description=_l("Taken off the contract's price per learner for whoever redeems the code."),
    )
    discount_amount = DecimalField(
        _l("Discount, amount in USD (optional)"),
        [Optional(), NumberRange(0.01, 1_000_000, _l("Enter an amount above 0."))],
        places=2,
        description=_l(
            "A fixed amount off the price per learner, at most the price. Give a "
            "percentage or an amount, not both."
        ),
    )

    def validate_discount_amount(self, field: Field) -> None:
        if field.data is not None and self.discount_percent.data is not None:
            raise ValidationError(_("Give a percentage or an amount, not both."))

    def validate_max_uses(self, field: Field) -> None:
        if field.data is not None and self.redemption_type.data != RedemptionType.MULTI_USE.value:
            raise ValidationError(
                _("Only multi-use codes take a number of uses; leave this empty.")
            )

    def validate_expires_at(self, field: Field) -> None:
        if field.data and self.activates_at.data and field.data <= self.activates_at.data:
            raise ValidationError(_("Codes must expire after they become valid."))

    @property
    def rtype(self) -> RedemptionType:
        return RedemptionType(self.redemption_type.data)
