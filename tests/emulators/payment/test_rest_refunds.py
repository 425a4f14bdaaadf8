"""The payment emulator's REST refund, ``POST /pts/v2/payments/{id}/refunds``, over real HTTP.

Requests are signed here by an independent implementation of CyberSource's HTTP Signature, written
from the documentation (not the portal's client), and one test replays headers that the official
SDK, cybersource-rest-client-python 0.0.80 (``authenticationsdk.http.HTTPSignatureToken``),
computed for fixed inputs: the SDK is not a dependency of the project (it pulls urllib3-future,
which replaces the urllib3 that requests uses), so its output is kept as a known answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from emulators.payment import Emulator, create_app
from emulators.payment import rest as rest_module
from emulators.payment.signing import signature_for
from emulators.payment.state import EXTENSION_KEY
from tests.support.live_server import live_server

MERCHANT = "demo-merchant"
KEY_ID = "demo-rest-key-id"
SECRET = "ZGVtby1jeWJlcnNvdXJjZS1yZXN0LXNlY3JldC1rZXk="
HOSTED_SECRET = "demo-cybersource-secret"


def rfc1123(moment: dt.datetime | None = None) -> str:
    return email.utils.format_datetime(moment or dt.datetime.now(dt.UTC), usegmt=True)


def sign(
    url: str,
    body: bytes,
    *,
    merchant: str = MERCHANT,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    date: str | None = None,
    names: str = "host date request-target digest v-c-merchant-id",
) -> dict[str, str]:
    """CyberSource's HTTP Signature headers, as the documentation describes them."""
    parts = requests.utils.urlparse(url)
    values = {
        "host": parts.netloc,
        "date": date or rfc1123(),
        "request-target": f"post {parts.path}",
        "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
        "v-c-merchant-id": merchant,
    }
    lines = "\n".join(
        f"{name}: {values['request-target' if name == '(request-target)' else name]}"
        for name in names.split()
    )
    mac = hmac.new(base64.b64decode(secret), lines.encode(), hashlib.sha256).digest()
    return {
        "v-c-merchant-id": merchant,
        "Date": values["date"],
        "Digest": values["digest"],
        "Signature": f'keyid="{key_id}", algorithm="HmacSHA256", headers="{names}", '
        f'signature="{base64.b64encode(mac).decode()}"',
        "Content-Type": "application/json",
    }


def refund_body(
    amount: str = "149.00", code: str | None = "refund-1", currency: str = "USD"
) -> bytes:
    body: dict[str, Any] = {
        "orderInformation": {"amountDetails": {"totalAmount": amount, "currency": currency}}
    }
    if code is not None:
        body["clientReferenceInformation"] = {"code": code}
    return json.dumps(body).encode()


@dataclass
class Cybs:
    app: Flask
    url: str

    @property
    def emulator(self) -> Emulator:
        found: Emulator = self.app.extensions[EXTENSION_KEY]
        return found

    def approve(self, amount: str = "149.00", transaction_type: str = "sale") -> str:
        """Pay in hosted checkout (the customer presses Approve); the REST payment id."""
        fields = {
            "access_key": "demo-access-key",
            "profile_id": "demo-profile",
            "transaction_uuid": uuid.uuid4().hex,
            "signed_date_time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "locale": "en",
            "transaction_type": transaction_type,
            "reference_number": f"B2B-{uuid.uuid4().hex[:8]}",
            "amount": amount,
            "currency": "USD",
        }
        names = [*fields, "signed_field_names"]
        fields["signed_field_names"] = ",".join(names)
        fields["signature"] = signature_for(fields, names, HOSTED_SECRET)
        page = requests.post(f"{self.url}/pay", data=fields, timeout=10)
        assert page.status_code == 200, page.text
        action = re.search(r'id="sa-decision" method="post" action="([^"]+)"', page.text)
        assert action is not None
        done = requests.post(
            f"{self.url}{action.group(1)}", data={"decision": "accept"}, timeout=10
        )
        assert done.status_code == 200, done.text
        return self.emulator.responses[-1]["transaction_id"]

    def refund(
        self, payment_id: str, body: bytes | None = None, **signing: Any
    ) -> requests.Response:
        url = f"{self.url}/pts/v2/payments/{payment_id}/refunds"
        body = refund_body() if body is None else body
        headers = sign(url, body, **signing)
        return requests.post(url, data=body, headers=headers, timeout=10)

    def control(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/__emulator__/{path}", timeout=10, **kw)


@pytest.fixture
def cybs() -> Iterator[Cybs]:
    app = create_app({"CYBERSOURCE_EMULATOR_NOTIFY_MODE": "off"})
    with live_server(app) as url:
        yield Cybs(app, url)


# ----------------------------------------------------------------------------- the refund


def test_a_signed_refund_of_an_approved_sale_answers_201_as_documented(cybs: Cybs) -> None:
    payment = cybs.approve("149.00")
    answer = cybs.refund(payment, refund_body("149.00", "refund-7-3-1"))
    assert answer.status_code == 201, answer.text
    assert answer.headers["Content-Type"].startswith("application/hal+json")
    body = answer.json()
    assert re.fullmatch(r"\d{22}", body["id"]) and body["id"] != payment
    assert body["status"] == "PENDING"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["submitTimeUtc"])
    assert body["reconciliationId"]
    assert body["clientReferenceInformation"] == {"code": "refund-7-3-1"}
    assert body["refundAmountDetails"] == {"refundAmount": "149.00", "currency": "USD"}
    assert body["orderInformation"] == {"amountDetails": {"currency": "USD"}}
    assert "processorInformation" in body
    assert body["_links"]["self"] == {"method": "GET", "href": f"/pts/v2/refunds/{body['id']}"}
    assert body["_links"]["void"]["href"] == f"/pts/v2/refunds/{body['id']}/voids"
    [recorded] = cybs.control("GET", "refunds").json()["refunds"]
    assert recorded == {
        "id": body["id"],
        "paymentId": payment,
        "code": "refund-7-3-1",
        "amount": "149.00",
        "currency": "USD",
    }


def test_the_same_code_is_the_same_refund_even_at_once(cybs: Cybs) -> None:
    payment = cybs.approve("50.00")
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def call() -> None:
        answer = cybs.refund(payment, refund_body("50.00", "refund-twice"))
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(cybs.emulator.refunds) == 1
    # The code names one refund: reusing it for another amount is a duplicate request.
    other = cybs.refund(payment, refund_body("10.00", "refund-twice"))
    assert other.status_code == 400
    assert other.json()["reason"] == "DUPLICATE_REQUEST"


def test_refunds_never_exceed_what_the_sale_captured(cybs: Cybs) -> None:
    payment = cybs.approve("100.00")
    assert cybs.refund(payment, refund_body("60.00", "part-1")).status_code == 201
    over = cybs.refund(payment, refund_body("40.01", "part-2"))
    assert over.status_code == 400
    body = over.json()
    assert body["status"] == "INVALID_REQUEST" and body["reason"] == "INVALID_AMOUNT"
    assert "40.00 USD" in body["message"]
    assert body["details"] == [
        {"field": "orderInformation.amountDetails.totalAmount", "reason": "INVALID_DATA"}
    ]
    assert cybs.refund(payment, refund_body("40.00", "part-3")).status_code == 201
    assert cybs.refund(payment, refund_body("0.01", "part-4")).json()["reason"] == "INVALID_AMOUNT"
    # An authorization captured nothing, so there is nothing to refund.
    authorized = cybs.approve("20.00", transaction_type="authorization")
    assert cybs.refund(authorized, refund_body("20.00", "auth-1")).json()["reason"] == (
        "INVALID_AMOUNT"
    )


def test_unknown_payments_and_bad_bodies_are_invalid_requests(cybs: Cybs) -> None:
    unknown = cybs.refund("9" * 22)
    assert unknown.status_code == 400
    assert unknown.json()["reason"] == "INVALID_DATA"
    assert unknown.json()["details"] == [{"field": "id", "reason": "INVALID_DATA"}]
    payment = cybs.approve()
    missing = cybs.refund(payment, json.dumps({"orderInformation": {}}).encode())
    assert missing.status_code == 400
    assert missing.json()["reason"] == "MISSING_FIELD"
    assert {d["field"] for d in missing.json()["details"]} == {
        "orderInformation.amountDetails.totalAmount",
        "orderInformation.amountDetails.currency",
    }
    for amount in ("-1.00", "1.001", "abc", "0"):
        bad = cybs.refund(payment, refund_body(amount, f"bad-{amount}"))
        assert bad.status_code == 400 and bad.json()["reason"] == "INVALID_DATA", amount
    assert cybs.refund(payment, refund_body(currency="EUR")).json()["reason"] == "INVALID_DATA"
    assert cybs.refund(payment, refund_body(code="x" * 51)).json()["reason"] == "INVALID_DATA"
    assert cybs.refund(payment, b"[1, 2]").json()["reason"] == "INVALID_DATA"
    assert cybs.emulator.refunds == []


# ----------------------------------------------------------------------------- the signature


@pytest.mark.parametrize(
    "signing",
    [
        {"secret": base64.b64encode(b"another-secret").decode()},
        {"key_id": "another-key"},
        {"merchant": "another-merchant"},
        # Dates as offsets from the moment the request is signed (not from collection: a slow
        # run would otherwise bring a date "10 minutes ahead" within the allowed skew).
        {"date": dt.timedelta(minutes=-10)},
        {"date": dt.timedelta(minutes=10)},
        {"date": "yesterday"},
        {"names": "host date request-target v-c-merchant-id"},
    ],
    ids=["secret", "key-id", "merchant", "date-old", "date-ahead", "date-garbled", "no-digest"],
)
def test_a_wrong_signature_answers_401(cybs: Cybs, signing: dict[str, Any]) -> None:
    payment = cybs.approve()
    if isinstance(signing.get("date"), dt.timedelta):
        signing = {"date": rfc1123(dt.datetime.now(dt.UTC) + signing["date"])}
    answer = cybs.refund(payment, **signing)
    assert answer.status_code == 401
    assert answer.json() == {"response": {"rmsg": "Authentication Failed"}}
    assert cybs.emulator.refunds == []
    assert cybs.emulator.refund_calls[-1]["status"] == 401


def test_the_digest_must_match_the_body_and_every_header_must_be_there(cybs: Cybs) -> None:
    payment = cybs.approve()
    url = f"{cybs.url}/pts/v2/payments/{payment}/refunds"
    headers = sign(url, refund_body("1.00"))
    tampered = requests.post(url, data=refund_body("149.00"), headers=headers, timeout=10)
    assert tampered.status_code == 401
    assert "Digest" in cybs.emulator.refund_calls[-1]["reason"]
    for name in ("v-c-merchant-id", "Date", "Digest", "Signature"):
        partial = {k: v for k, v in sign(url, refund_body()).items() if k != name}
        answer = requests.post(url, data=refund_body(), headers=partial, timeout=10)
        assert answer.status_code == 401, name
    # Signed for another path (another payment): the request target is part of the signature.
    elsewhere = sign(f"{cybs.url}/pts/v2/payments/{'1' * 22}/refunds", refund_body())
    assert requests.post(url, data=refund_body(), headers=elsewhere, timeout=10).status_code == 401
    assert cybs.emulator.refunds == []


def test_the_older_documented_request_target_spelling_verifies_too(cybs: Cybs) -> None:
    payment = cybs.approve()
    answer = cybs.refund(payment, names="host date (request-target) digest v-c-merchant-id")
    assert answer.status_code == 201, answer.text


# Computed by cybersource-rest-client-python 0.0.80 (authenticationsdk.http.HTTPSignatureToken and
# payloaddigest.PayLoadDigest) for merchant demo-merchant, key demo-rest-key-id and the demo secret.
SDK_HOST = "127.0.0.1:8195"
SDK_PAYMENT = "1234567890123456789012"
SDK_DATE = "Thu, 03 Dec 2026 10:00:00 GMT"
SDK_BODY = (
    b'{"clientReferenceInformation":{"code":"refund-1-1-1"},'
    b'"orderInformation":{"amountDetails":{"totalAmount":"149.00","currency":"USD"}}}'
)
SDK_DIGEST = "SHA-256=mnl6uDMH36VVPd5FBBPFwaMgfjCH7H9egPEXx1kg7EI="
SDK_SIGNATURE = (
    'keyid="demo-rest-key-id", algorithm="HmacSHA256", '
    'headers="host date request-target digest v-c-merchant-id", '
    'signature="EwMbQdUgecJw913CPYK6sm0y2LDml/hSvwkIvgvyEtI="'
)


def test_headers_the_official_sdk_signs_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app({"CYBERSOURCE_EMULATOR_NOTIFY_MODE": "off"})
    emu: Emulator = app.extensions[EXTENSION_KEY]
    emu.record(
        {
            "decision": "ACCEPT",
            "transaction_id": SDK_PAYMENT,
            "req_transaction_type": "sale",
            "req_amount": "149.00",
            "auth_amount": "149.00",
            "req_currency": "USD",
        }
    )
    sent = email.utils.parsedate_to_datetime(SDK_DATE)
    monkeypatch.setattr(rest_module, "_now", lambda: sent + dt.timedelta(seconds=30))
    headers = {
        "v-c-merchant-id": MERCHANT,
        "Date": SDK_DATE,
        "Digest": SDK_DIGEST,
        "Signature": SDK_SIGNATURE,
        "Content-Type": "application/json",
    }
    # The independent signer here agrees with the SDK.
    mine = sign(f"http://{SDK_HOST}/pts/v2/payments/{SDK_PAYMENT}/refunds", SDK_BODY, date=SDK_DATE)
    assert (mine["Digest"], mine["Signature"]) == (SDK_DIGEST, SDK_SIGNATURE)
    client = app.test_client()
    answer = client.post(
        f"/pts/v2/payments/{SDK_PAYMENT}/refunds",
        data=SDK_BODY,
        headers=headers,
        base_url=f"http://{SDK_HOST}",
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json()["clientReferenceInformation"] == {"code": "refund-1-1-1"}
    # The same headers for another host do not verify: Host is signed.
    other = client.post(
        f"/pts/v2/payments/{SDK_PAYMENT}/refunds",
        data=SDK_BODY,
        headers=headers,
        base_url="http://127.0.0.1:8196",
    )
    assert other.status_code == 401


# ----------------------------------------------------------------------------- test controls


def test_queued_faults_fail_the_next_calls_then_refunds_go_through(cybs: Cybs) -> None:
    payment = cybs.approve()
    queued = cybs.control(
        "POST",
        "refund-faults",
        json=[
            {"status": 502, "times": 2},
            {"status": 400, "reason": "INVALID_DATA", "message": "Declined - card closed"},
        ],
    )
    assert queued.status_code == 201
    assert [f["status"] for f in queued.json()["faults"]] == [502, 502, 400]
    first = cybs.refund(payment)
    assert first.status_code == 502
    assert first.json()["status"] == "SERVER_ERROR" and first.json()["reason"] == "SYSTEM_ERROR"
    assert cybs.refund(payment).status_code == 502
    refused = cybs.refund(payment)
    assert refused.status_code == 400
    assert refused.json() == {
        "submitTimeUtc": refused.json()["submitTimeUtc"],
        "status": "INVALID_REQUEST",
        "reason": "INVALID_DATA",
        "message": "Declined - card closed",
    }
    assert cybs.emulator.refunds == []
    assert cybs.refund(payment).status_code == 201
    calls = cybs.control("GET", "refunds").json()["calls"]
    assert [c["status"] for c in calls] == [502, 502, 400, 201]


def test_faults_can_be_listed_and_cleared_and_bad_ones_are_refused(cybs: Cybs) -> None:
    assert cybs.control("POST", "refund-faults", json={"status": 418}).status_code == 400
    assert cybs.control("POST", "refund-faults", json={"status": 502}).status_code == 201
    assert len(cybs.control("GET", "refund-faults").json()["faults"]) == 1
    assert cybs.control("DELETE", "refund-faults").json() == {"faults": []}
    payment = cybs.approve()
    assert cybs.refund(payment).status_code == 201
