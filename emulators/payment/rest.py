"""CyberSource's REST refund call, ``POST /pts/v2/payments/{id}/refunds``, for the payments this
emulator approved in hosted checkout (their 22-digit ``transaction_id`` is the REST payment id).

Requests are authenticated as CyberSource authenticates REST calls with a shared secret (HTTP
Signature): ``v-c-merchant-id``, ``Date`` (RFC 1123, within ``CYBERSOURCE_EMULATOR_REST_CLOCK_SKEW``
seconds), ``Host``, ``Digest: SHA-256=<base64 SHA-256 of the body>`` and ``Signature: keyid="...",
algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id",
signature="..."``, the signature being the base64 HMAC-SHA256, keyed with the base64-decoded secret,
of one ``name: value`` line per listed header (``request-target`` is ``post <path>``), joined by
``\\n``. Written here from the documentation, independently of the portal's client. Anything wrong
answers 401 ``{"response": {"rmsg": "Authentication Failed"}}``.

The answers follow the SDK's models: 201 ``PtsV2PaymentsRefundPost201Response``, 400
``PtsV2PaymentsRefundPost400Response`` (``status`` INVALID_REQUEST), 502
``PtsV2PaymentsPost502Response`` (``status`` SERVER_ERROR). See README.md for the sources.

Test controls under ``/__emulator__/``: queue failures for the next refund calls, read the refunds.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import hmac
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Response, jsonify, request

from .state import RestFault, RestRefund, emulator

bp = Blueprint("rest", __name__)
admin_bp = Blueprint("payment_admin", __name__, url_prefix="/__emulator__")

SIGNED_HEADERS = ("host", "date", "request-target", "digest", "v-c-merchant-id")
SIGNATURE_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')
MISSING_FIELD = "Declined - The request is missing one or more fields"
INVALID_DATA = "Declined - One or more fields in the request contains invalid data"
SYSTEM_ERROR = "Error - General system failure."
MAX_CODE = 50  # clientReferenceInformation.code
TWO_PLACES = Decimal("0.01")


class AuthenticationFailed(Exception):
    """Why a request's HTTP Signature was refused (recorded for tests; the client only sees 401)."""


class Refused(Exception):
    """A 400 INVALID_REQUEST answer."""

    def __init__(self, reason: str, message: str, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.reason, self.message, self.details = reason, message, details or []


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _digits(n: int) -> str:
    return f"{secrets.randbelow(10**n):0{n}d}"


# -- HTTP Signature -------------------------------------------------------------------------------


def signature_params(value: str) -> dict[str, str]:
    """``keyid="..", algorithm="..", ...`` as a dict; a malformed header is refused."""
    params: dict[str, str] = {}
    position = 0
    for match in SIGNATURE_PARAM.finditer(value):
        if match.start() != position:
            break
        params[match.group(1).lower()] = match.group(2)
        position = match.end()
    if position != len(value) or not params:
        raise AuthenticationFailed("the Signature header is malformed")
    return params


def _plain(name: str) -> str:
    return "request-target" if name == "(request-target)" else name


def signing_string(names: list[str], values: dict[str, str]) -> str:
    """One ``name: value`` line per signed header, in the order the Signature lists them."""
    return "\n".join(f"{name}: {values[_plain(name)]}" for name in names)


def expected_signature(secret_b64: str, text: str) -> str:
    key = base64.b64decode(secret_b64)
    return base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _check_date(raw: str, skew: float) -> None:
    try:
        sent = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        raise AuthenticationFailed("the Date header is not an RFC 1123 date") from None
    if sent.tzinfo is None:
        raise AuthenticationFailed("the Date header has no time zone (send GMT)")
    if abs((_now() - sent).total_seconds()) > skew:
        raise AuthenticationFailed("the Date header is too far from the server's clock")


def verify_signature() -> None:
    """Check the request's HTTP Signature against the configured merchant, key id and secret."""
    settings = emulator().settings
    headers = request.headers
    for name in ("v-c-merchant-id", "Date", "Host", "Digest", "Signature"):
        if not headers.get(name):
            raise AuthenticationFailed(f"the {name} header is missing")
    params = signature_params(headers["Signature"])
    missing = [p for p in ("keyid", "algorithm", "headers", "signature") if p not in params]
    if missing:
        raise AuthenticationFailed(f"the Signature header lacks {', '.join(missing)}")
    if not _equal(params["keyid"], settings.rest_key_id):
        raise AuthenticationFailed("unknown keyid")
    if params["algorithm"] != "HmacSHA256":
        raise AuthenticationFailed("algorithm must be HmacSHA256")
    # Older pages of the documentation write "(request-target)" (the HTTP Signatures draft's
    # spelling, its line named so too); the SDKs send "request-target".
    names = params["headers"].split()
    if sorted(_plain(n) for n in names) != sorted(SIGNED_HEADERS):
        raise AuthenticationFailed(f"headers must list exactly: {' '.join(SIGNED_HEADERS)}")
    if not _equal(headers["v-c-merchant-id"], settings.merchant_id):
        raise AuthenticationFailed("unknown v-c-merchant-id")
    _check_date(headers["Date"], settings.rest_clock_skew)
    body_digest = base64.b64encode(hashlib.sha256(request.get_data()).digest()).decode()
    if not _equal(headers["Digest"], f"SHA-256={body_digest}"):
        raise AuthenticationFailed("the Digest does not match the body")
    target = request.full_path.rstrip("?")
    values = {
        "host": headers["Host"],
        "date": headers["Date"],
        "request-target": f"{request.method.lower()} {target}",
        "digest": headers["Digest"],
        "v-c-merchant-id": headers["v-c-merchant-id"],
    }
    try:
        expected = expected_signature(settings.rest_secret_key, signing_string(names, values))
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("the configured secret is not base64") from None
    if not _equal(params["signature"], expected):
        raise AuthenticationFailed("the signature does not match")


# -- the refund -----------------------------------------------------------------------------------


def _answer(status: int, body: dict[str, Any], content_type: str = "application/json") -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Content-Type"] = f"{content_type};charset=utf-8"
    response.headers["v-c-correlation-id"] = secrets.token_hex(16)
    return response


def _invalid(refused: Refused) -> Response:
    body: dict[str, Any] = {
        "submitTimeUtc": _utc(_now()),
        "status": "INVALID_REQUEST",
        "reason": refused.reason,
        "message": refused.message,
    }
    if refused.details:
        body["details"] = refused.details
    return _answer(400, body)


def _server_error(message: str = SYSTEM_ERROR) -> Response:
    body = {
        "submitTimeUtc": _utc(_now()),
        "status": "SERVER_ERROR",
        "reason": "SYSTEM_ERROR",
        "message": message,
    }
    return _answer(502, body)


def _field(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _read_request(data: Any) -> tuple[str, Decimal, str]:
    """(code, amount, currency) from the body, or a MISSING_FIELD / INVALID_DATA refusal."""
    if not isinstance(data, dict):
        raise Refused("INVALID_DATA", f"{INVALID_DATA}: the body must be a JSON object")
    amount_path, currency_path = (
        "orderInformation.amountDetails.totalAmount",
        "orderInformation.amountDetails.currency",
    )
    missing = [p for p in (amount_path, currency_path) if _field(data, p) in (None, "")]
    if missing:
        details = [{"field": p, "reason": "MISSING_FIELD"} for p in missing]
        raise Refused("MISSING_FIELD", MISSING_FIELD, details)
    raw_amount, currency = _field(data, amount_path), _field(data, currency_path)
    code = _field(data, "clientReferenceInformation.code")
    invalid: list[str] = []
    try:
        amount = Decimal(str(raw_amount)) if isinstance(raw_amount, str | int | float) else None
    except InvalidOperation:
        amount = None
    if (
        amount is None
        or not amount.is_finite()
        or amount <= 0
        or amount != amount.quantize(TWO_PLACES)
    ):
        invalid.append(amount_path)
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        invalid.append(currency_path)
    if code is not None and (not isinstance(code, str) or not code or len(code) > MAX_CODE):
        invalid.append("clientReferenceInformation.code")
    if invalid:
        details = [{"field": p, "reason": "INVALID_DATA"} for p in invalid]
        raise Refused("INVALID_DATA", INVALID_DATA, details)
    assert amount is not None
    return str(code or ""), amount, str(currency).upper()


def _captured(payment: dict[str, str]) -> Decimal:
    """What the approved payment captured: a sale captures its amount, an authorization nothing."""
    if payment.get("req_transaction_type") != "sale":
        return Decimal("0")
    return Decimal(payment.get("auth_amount") or payment["req_amount"])


def _body(refund_id: str, code: str, amount: Decimal, currency: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "_links": {
            "void": {"method": "POST", "href": f"/pts/v2/refunds/{refund_id}/voids"},
            "self": {"method": "GET", "href": f"/pts/v2/refunds/{refund_id}"},
        },
        "id": refund_id,
        "submitTimeUtc": _utc(_now()),
        "status": "PENDING",
        "reconciliationId": _digits(16),
        "orderInformation": {"amountDetails": {"currency": currency}},
        "processorInformation": {"responseCode": "00"},
        "refundAmountDetails": {"refundAmount": f"{amount:.2f}", "currency": currency},
    }
    if code:
        body["clientReferenceInformation"] = {"code": code}
    return body


def _refund(payment_id: str, code: str, amount: Decimal, currency: str) -> dict[str, Any]:
    """Record the refund and return its 201 body: once per code, never above what remains."""
    emu = emulator()
    payment = emu.approved(payment_id)
    if payment is None:
        raise Refused(
            "INVALID_DATA",
            f"{INVALID_DATA}: no payment has the id {payment_id}",
            [{"field": "id", "reason": "INVALID_DATA"}],
        )
    if currency != payment.get("req_currency", "").upper():
        raise Refused(
            "INVALID_DATA",
            f"{INVALID_DATA}: the payment was made in {payment.get('req_currency')}",
            [{"field": "orderInformation.amountDetails.currency", "reason": "INVALID_DATA"}],
        )
    with emu.lock:
        if code:
            earlier = next((r for r in emu.refunds if r.code == code), None)
            if earlier is not None:
                if (earlier.payment_id, earlier.amount, earlier.currency) == (
                    payment_id,
                    amount,
                    currency,
                ):
                    return earlier.body  # the same refund, asked for again
                raise Refused(
                    "DUPLICATE_REQUEST",
                    "Declined - The merchant reference code was used before for another refund",
                    [{"field": "clientReferenceInformation.code", "reason": "INVALID_DATA"}],
                )
        refunded = sum((r.amount for r in emu.refunds if r.payment_id == payment_id), Decimal(0))
        remaining = _captured(payment) - refunded
        if amount > remaining:
            raise Refused(
                "INVALID_AMOUNT",
                "Declined - The requested refund amount exceeds the amount captured and not yet "
                f"refunded ({remaining:.2f} {currency})",
                [{"field": "orderInformation.amountDetails.totalAmount", "reason": "INVALID_DATA"}],
            )
        refund_id = _digits(22)
        body = _body(refund_id, code, amount, currency)
        emu.refunds.append(RestRefund(refund_id, payment_id, code, amount, currency, body))
        return body


@bp.post("/pts/v2/payments/<payment_id>/refunds")
def refund_payment(payment_id: str) -> Response:
    emu = emulator()
    try:
        verify_signature()
    except AuthenticationFailed as exc:
        emu.called({"payment_id": payment_id, "status": 401, "reason": str(exc)})
        return _answer(401, {"response": {"rmsg": "Authentication Failed"}})
    fault = emu.next_fault()
    if fault is not None:
        emu.called({"payment_id": payment_id, "status": fault.status, "reason": fault.reason})
        if fault.status == 502:
            return _server_error(fault.message or SYSTEM_ERROR)
        return _invalid(Refused(fault.reason, fault.message))
    try:
        code, amount, currency = _read_request(request.get_json(silent=True))
        body = _refund(payment_id, code, amount, currency)
    except Refused as refused:
        emu.called({"payment_id": payment_id, "status": 400, "reason": refused.reason})
        return _invalid(refused)
    emu.called({"payment_id": payment_id, "status": 201, "refund_id": body["id"]})
    return _answer(201, body, "application/hal+json")


# -- test controls --------------------------------------------------------------------------------


def _fault(spec: Any) -> RestFault:
    if not isinstance(spec, dict) or spec.get("status") not in (400, 502):
        raise ValueError('each fault is {"status": 502} or {"status": 400, "reason", "message"}')
    status = int(spec["status"])
    if status == 502:
        return RestFault(502, "SYSTEM_ERROR", str(spec.get("message") or SYSTEM_ERROR))
    return RestFault(
        400,
        str(spec.get("reason") or "INVALID_DATA"),
        str(spec.get("message") or INVALID_DATA),
    )


def _faults_snapshot() -> dict[str, Any]:
    emu = emulator()
    with emu.lock:
        return {"faults": [vars(f) for f in emu.refund_faults]}


@admin_bp.post("/refund-faults")
def add_refund_faults() -> Response:
    """Make the next refund calls fail: one fault object or a list, each used once, in order;
    ``"times": n`` repeats one. Nothing is queued if one is invalid."""
    data = request.get_json(silent=True)
    specs = data if isinstance(data, list) else [data]
    try:
        faults = [
            _fault(spec)
            for spec in specs
            for _ in range(int(spec.get("times", 1)) if isinstance(spec, dict) else 1)
        ]
    except (TypeError, ValueError) as exc:
        return _answer(400, {"error": str(exc)})
    emu = emulator()
    with emu.lock:
        emu.refund_faults.extend(faults)
    return _answer(201, _faults_snapshot())


@admin_bp.get("/refund-faults")
def list_refund_faults() -> Response:
    return _answer(200, _faults_snapshot())


@admin_bp.delete("/refund-faults")
def clear_refund_faults() -> Response:
    emu = emulator()
    with emu.lock:
        emu.refund_faults.clear()
    return _answer(200, _faults_snapshot())


@admin_bp.get("/refunds")
def list_refunds() -> Response:
    """Every refund accepted, and every refund call's answer (status, reason), in order."""
    emu = emulator()
    with emu.lock:
        refunds = [
            {
                "id": r.id,
                "paymentId": r.payment_id,
                "code": r.code,
                "amount": f"{r.amount:.2f}",
                "currency": r.currency,
            }
            for r in emu.refunds
        ]
        calls = list(emu.refund_calls)
    return _answer(200, {"refunds": refunds, "calls": calls})
