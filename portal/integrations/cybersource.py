"""CyberSource Secure Acceptance, hosted checkout (b2b-rules section 7).

The portal never sees a card. Checkout is a browser form post of *signed* fields to the hosted payment
page; the result comes back signed, twice: through the learner's browser (the custom receipt page) and
server to server (the merchant POST URL, ``override_backoffice_post_url``).

A signature is ``base64(HMAC-SHA256(secret_key, "name=value,name=value,..."))`` over the fields named in
``signed_field_names``, in that order; ``signed_field_names`` names itself. A response is trusted only if:

* ``signature`` and ``signed_field_names`` are present and well formed (no empty or repeated names,
  ``signed_field_names`` among them, ``signature`` not among them);
* every field it names is present;
* the HMAC matches (compared in constant time);
* no other field came with it: CyberSource signs every response field it sends, so an unsigned one
  can only have been added on the way.

Anything else is :class:`ForgedMessage`. Callers read values only from what :func:`verify` returns.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

SIGNATURE = "signature"
SIGNED_FIELD_NAMES = "signed_field_names"
UNSIGNED_FIELD_NAMES = "unsigned_field_names"
SIGNED_DATE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # yyyy-MM-dd'T'HH:mm:ss'Z', always UTC

# The request the portal signs, in this order. Nothing the customer types is sent, so nothing is unsigned.
REQUEST_FIELDS = (
    "access_key",
    "profile_id",
    "transaction_uuid",
    SIGNED_FIELD_NAMES,
    UNSIGNED_FIELD_NAMES,
    "signed_date_time",
    "locale",
    "transaction_type",
    "reference_number",
    "amount",
    "currency",
    "override_custom_receipt_page",
    "override_backoffice_post_url",
)

# A response must sign at least these for the portal to act on it.
REQUIRED_RESPONSE_FIELDS = ("decision", "req_reference_number", "req_amount", "req_currency")


class ForgedMessage(ValueError):
    """A message whose signature or signed field list is missing, malformed or wrong."""


@dataclass(frozen=True)
class Credentials:
    """One Secure Acceptance profile: its id, and the access key and secret key made for it."""

    profile_id: str
    access_key: str
    secret_key: str


def signing_string(fields: Mapping[str, str], names: list[str]) -> str:
    """``name=value`` pairs joined by commas, in the order of ``names``."""
    return ",".join(f"{name}={fields[name]}" for name in names)


def compute_signature(fields: Mapping[str, str], names: list[str], secret_key: str) -> str:
    digest = hmac.new(
        secret_key.encode("utf-8"),
        signing_string(fields, names).encode("utf-8"),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(fields: Mapping[str, str], secret_key: str) -> dict[str, str]:
    """Return ``fields`` plus their ``signature``, signing those named in ``signed_field_names``."""
    names = parse_field_names(fields.get(SIGNED_FIELD_NAMES))
    missing = [name for name in names if name not in fields]
    if missing:
        raise ValueError(f"cannot sign fields that are not there: {', '.join(missing)}")
    return {**fields, SIGNATURE: compute_signature(fields, names, secret_key)}


def parse_field_names(raw: str | None) -> list[str]:
    """The names in a ``signed_field_names`` value; malformed lists are forged."""
    if not raw:
        raise ForgedMessage("signed_field_names is missing")
    names = raw.split(",")
    if any(not name or name != name.strip() for name in names):
        raise ForgedMessage("signed_field_names has an empty or padded name")
    if len(set(names)) != len(names):
        raise ForgedMessage("signed_field_names repeats a name")
    if SIGNED_FIELD_NAMES not in names:
        raise ForgedMessage("signed_field_names does not sign itself")
    if SIGNATURE in names:
        raise ForgedMessage("signed_field_names names the signature")
    return names


def verify(
    fields: Mapping[str, str], secret_key: str, *, allow_unsigned: bool = False
) -> dict[str, str]:
    """Check a signed message and return only its signed fields, or raise :class:`ForgedMessage`.

    ``allow_unsigned`` accepts extra fields outside the signature (they are dropped from the
    result); responses from CyberSource never need it."""
    given = fields.get(SIGNATURE)
    if not given:
        raise ForgedMessage("signature is missing")
    try:
        raw_signature = base64.b64decode(given.encode("ascii"), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ForgedMessage("signature is not base64") from exc
    if len(raw_signature) != hashlib.sha256().digest_size:
        raise ForgedMessage("signature has the wrong length")
    names = parse_field_names(fields.get(SIGNED_FIELD_NAMES))
    missing = [name for name in names if name not in fields]
    if missing:
        raise ForgedMessage(f"signed fields are missing: {', '.join(missing)}")
    expected = base64.b64decode(compute_signature(fields, names, secret_key))
    if not hmac.compare_digest(expected, raw_signature):
        raise ForgedMessage("signature does not match")
    unsigned = sorted(set(fields) - set(names) - {SIGNATURE})
    if unsigned and not allow_unsigned:
        raise ForgedMessage(f"fields outside the signature: {', '.join(unsigned)}")
    return {name: fields[name] for name in names}


def verify_response(fields: Mapping[str, str], secret_key: str) -> dict[str, str]:
    """:func:`verify` a response and check it signs what the portal acts on."""
    signed = verify(fields, secret_key)
    unsigned_essentials = [name for name in REQUIRED_RESPONSE_FIELDS if name not in signed]
    if unsigned_essentials:
        raise ForgedMessage(f"the response does not sign {', '.join(unsigned_essentials)}")
    return signed


def format_amount(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01')):f}"


def signed_date_time(at: dt.datetime | None = None) -> str:
    return (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime(SIGNED_DATE_TIME_FORMAT)


def request_fields(
    credentials: Credentials,
    *,
    reference: str,
    amount: Decimal,
    currency: str,
    receipt_url: str,
    notify_url: str,
    locale: str = "en",
    transaction_uuid: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, str]:
    """The signed form fields of a ``sale`` for one order (a fresh ``transaction_uuid`` each time)."""
    fields = {
        "access_key": credentials.access_key,
        "profile_id": credentials.profile_id,
        "transaction_uuid": transaction_uuid or uuid.uuid4().hex,
        SIGNED_FIELD_NAMES: ",".join(REQUEST_FIELDS),
        UNSIGNED_FIELD_NAMES: "",
        "signed_date_time": signed_date_time(at),
        "locale": locale,
        "transaction_type": "sale",
        "reference_number": reference,
        "amount": format_amount(amount),
        "currency": currency,
        "override_custom_receipt_page": receipt_url,
        "override_backoffice_post_url": notify_url,
    }
    return sign(fields, credentials.secret_key)
