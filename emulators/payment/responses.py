"""Building the signed response to a payment request, as Secure Acceptance returns it."""

from __future__ import annotations

import datetime as dt
import secrets

from .signing import sign_all

# decision -> (reason_code, message); CANCEL has no reason code in Secure Acceptance.
OUTCOMES: dict[str, tuple[str | None, str]] = {
    "ACCEPT": ("100", "Request was processed successfully."),
    "DECLINE": (
        "203",
        "Decline - General decline of the card. No other information provided by the issuing bank.",
    ),
    "CANCEL": (None, "The consumer cancelled the transaction"),
}
CHOICES = {"accept": "ACCEPT", "decline": "DECLINE", "cancel": "CANCEL"}
NOT_ECHOED = {"signature", "signed_field_names", "unsigned_field_names"}
TEST_CARD = "xxxxxxxxxxxx1111"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def transaction_id() -> str:
    """CyberSource transaction ids are 22 digits."""
    return f"{secrets.randbelow(10**22):022d}"


def build_response(
    request_fields: dict[str, str], decision: str, secret_key: str
) -> dict[str, str]:
    reason_code, message = OUTCOMES[decision]
    fields: dict[str, str] = {"decision": decision}
    if reason_code is not None:
        fields["reason_code"] = reason_code
    fields["message"] = message
    fields["transaction_id"] = transaction_id()
    for name, value in request_fields.items():
        if name not in NOT_ECHOED:
            fields[f"req_{name}"] = value
    if decision != "CANCEL":
        fields.update(req_payment_method="card", req_card_number=TEST_CARD, req_card_type="001")
    if decision == "ACCEPT":
        now = _now()
        fields.update(
            auth_amount=request_fields["amount"],
            auth_code=f"{secrets.randbelow(10**6):06d}",
            auth_response="00",
            auth_time=now.strftime("%Y-%m-%dT%H%M%SZ"),
            auth_trans_ref_no=f"{secrets.randbelow(10**12):012d}",
        )
    fields["signed_date_time"] = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return sign_all(fields, secret_key)
