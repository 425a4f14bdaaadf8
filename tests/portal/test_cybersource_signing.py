"""Secure Acceptance signatures: signing requests, verifying responses, and what counts as forged."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from decimal import Decimal

import pytest

from emulators.payment.responses import build_response
from emulators.payment.signing import BadRequestSignature, verify_request
from portal.integrations.cybersource import (
    REQUEST_FIELDS,
    Credentials,
    ForgedMessage,
    request_fields,
    sign,
    signing_string,
    verify,
    verify_response,
)

SECRET = "demo-cybersource-secret"
CREDENTIALS = Credentials(
    profile_id="demo-profile", access_key="demo-access-key", secret_key=SECRET
)


def response(**changes: str) -> dict[str, str]:
    fields = {
        "decision": "ACCEPT",
        "reason_code": "100",
        "transaction_id": "7000000000000000000001",
        "req_reference_number": "B2B-0001",
        "req_amount": "149.00",
        "req_currency": "USD",
        "auth_amount": "149.00",
        "message": "Request was processed successfully.",
        "signed_field_names": "decision,reason_code,transaction_id,req_reference_number,"
        "req_amount,req_currency,auth_amount,message,signed_field_names",
    }
    fields.update(changes)
    return sign(fields, SECRET)


def test_the_signature_is_base64_hmac_sha256_over_name_value_pairs_in_list_order() -> None:
    fields = {"b": "2", "a": "1,x", "signed_field_names": "b,a,signed_field_names"}
    expected = base64.b64encode(
        hmac.new(
            SECRET.encode(), b"b=2,a=1,x,signed_field_names=b,a,signed_field_names", hashlib.sha256
        ).digest()
    ).decode()
    assert signing_string(fields, ["b", "a", "signed_field_names"]) == (
        "b=2,a=1,x,signed_field_names=b,a,signed_field_names"
    )
    assert sign(fields, SECRET)["signature"] == expected


def test_a_signed_response_verifies_and_only_signed_fields_come_back() -> None:
    signed = verify_response(response(), SECRET)
    assert signed["decision"] == "ACCEPT" and signed["req_amount"] == "149.00"
    assert "signature" not in signed


@pytest.mark.parametrize("name", ["decision", "req_amount", "req_reference_number", "message"])
def test_a_tampered_value_is_forged(name: str) -> None:
    fields = response()
    fields[name] = fields[name] + "0"
    with pytest.raises(ForgedMessage, match="does not match"):
        verify(fields, SECRET)


def test_a_missing_signed_field_is_forged() -> None:
    fields = response()
    del fields["auth_amount"]
    with pytest.raises(ForgedMessage, match="missing: auth_amount"):
        verify(fields, SECRET)


def test_a_reordered_field_list_is_forged() -> None:
    fields = response()
    names = fields["signed_field_names"].split(",")
    names[0], names[1] = names[1], names[0]
    fields["signed_field_names"] = ",".join(names)
    with pytest.raises(ForgedMessage, match="does not match"):
        verify(fields, SECRET)


def test_a_shortened_field_list_is_forged() -> None:
    """Dropping a name from the list (to smuggle that field in unsigned) breaks the signature."""
    fields = response()
    fields["signed_field_names"] = fields["signed_field_names"].replace("auth_amount,", "")
    with pytest.raises(ForgedMessage):
        verify(fields, SECRET)


def test_the_wrong_secret_is_forged() -> None:
    with pytest.raises(ForgedMessage, match="does not match"):
        verify(response(), "another-secret")
    resigned = sign({k: v for k, v in response().items() if k != "signature"}, "another-secret")
    with pytest.raises(ForgedMessage, match="does not match"):
        verify(resigned, SECRET)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "signature is missing"),
        ("", "signature is missing"),
        ("not base64!", "not base64"),
        (base64.b64encode(b"short").decode(), "wrong length"),
        ("ünïcode", "not base64"),
    ],
)
def test_a_missing_or_malformed_signature_is_forged(signature: str | None, reason: str) -> None:
    fields = response()
    if signature is None:
        del fields["signature"]
    else:
        fields["signature"] = signature
    with pytest.raises(ForgedMessage, match=reason):
        verify(fields, SECRET)


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("decision,,signed_field_names", "empty"),
        ("decision, req_amount,signed_field_names", "padded"),
        ("decision,decision,signed_field_names", "repeats"),
        ("decision,req_amount", "does not sign itself"),
        ("decision,signature,signed_field_names", "names the signature"),
    ],
)
def test_a_malformed_field_list_is_forged(names: str | None, reason: str) -> None:
    well_formed = base64.b64encode(bytes(32)).decode()  # so the list itself is what fails
    fields = {"decision": "ACCEPT", "req_amount": "1.00", "signature": well_formed}
    if names is not None:
        fields["signed_field_names"] = names
    with pytest.raises(ForgedMessage, match=reason):
        verify(fields, SECRET)


def test_a_field_outside_the_signature_is_forged_unless_allowed() -> None:
    fields = {**response(), "decision_note": "ACCEPT"}
    with pytest.raises(ForgedMessage, match="outside the signature: decision_note"):
        verify(fields, SECRET)
    assert "decision_note" not in verify(fields, SECRET, allow_unsigned=True)


def test_a_response_must_sign_what_the_portal_acts_on() -> None:
    fields = sign(
        {"decision": "ACCEPT", "signed_field_names": "decision,signed_field_names"}, SECRET
    )
    verify(fields, SECRET)  # a valid signature...
    with pytest.raises(ForgedMessage, match="does not sign req_reference_number"):
        verify_response(fields, SECRET)  # ...over too little


def test_signing_needs_every_listed_field() -> None:
    with pytest.raises(ValueError, match="not there: b"):
        sign({"a": "1", "signed_field_names": "a,b,signed_field_names"}, SECRET)


def test_request_fields_sign_the_documented_list() -> None:
    at = dt.datetime(2026, 3, 1, 9, 5, 7, tzinfo=dt.UTC)
    fields = request_fields(
        CREDENTIALS,
        reference="B2B-0001",
        amount=Decimal("149"),
        currency="USD",
        receipt_url="https://portal.example.org/checkout/receipt",
        notify_url="https://portal.example.org/checkout/notify",
        transaction_uuid="u-1",
        at=at,
    )
    assert fields["signed_field_names"].split(",") == list(REQUEST_FIELDS)
    assert set(fields) == {*REQUEST_FIELDS, "signature"}
    assert fields["signed_date_time"] == "2026-03-01T09:05:07Z"
    assert fields["amount"] == "149.00" and fields["transaction_type"] == "sale"
    assert fields["unsigned_field_names"] == ""
    assert verify(fields, SECRET)["reference_number"] == "B2B-0001"
    other = request_fields(
        CREDENTIALS,
        reference="B2B-0001",
        amount=Decimal("149.00"),
        currency="USD",
        receipt_url="r",
        notify_url="n",
    )
    assert other["transaction_uuid"] != fields["transaction_uuid"]


def test_the_emulator_and_the_portal_agree_both_ways() -> None:
    """Two independent implementations: the emulator accepts what the portal signs, and the portal
    accepts what the emulator signs (every response field, the list itself included)."""
    fields = request_fields(
        CREDENTIALS,
        reference="B2B-0002",
        amount=Decimal("298.00"),
        currency="USD",
        receipt_url="http://127.0.0.1:5000/checkout/receipt",
        notify_url="http://127.0.0.1:5000/checkout/notify",
    )
    signed_names, unsigned_names = verify_request(fields, SECRET)
    assert signed_names == list(REQUEST_FIELDS) and unsigned_names == []
    with pytest.raises(BadRequestSignature):
        verify_request({**fields, "amount": "1.00"}, SECRET)
    with pytest.raises(BadRequestSignature, match="neither signed nor declared"):
        verify_request({**fields, "extra": "1"}, SECRET)

    for decision in ("ACCEPT", "DECLINE", "CANCEL"):
        answer = build_response(fields, decision, SECRET)
        signed = verify_response(answer, SECRET)
        assert signed["decision"] == decision
        assert signed["req_reference_number"] == "B2B-0002" and signed["req_amount"] == "298.00"
        assert ("auth_amount" in signed) is (decision == "ACCEPT")
