"""CyberSource's REST API, for refunds: ``POST /pts/v2/payments/{id}/refunds``.

``{id}`` is the payment's id, which for a Secure Acceptance payment is its ``transaction_id``. The
body is ``{"clientReferenceInformation": {"code": ...}, "orderInformation": {"amountDetails":
{"totalAmount": "10.00", "currency": "USD"}}}``; the portal sends ``Refund.request_key`` as the
code, the same on every retry of one refund.

Every request is signed as CyberSource signs REST calls with a shared secret (HTTP Signature):
``v-c-merchant-id``, ``Date`` (RFC 1123), ``Host``, ``Digest: SHA-256=<base64 SHA-256 of the
body>``, and ``Signature: keyid="<key id>", algorithm="HmacSHA256", headers="host date
request-target digest v-c-merchant-id", signature="<sig>"`` where ``<sig>`` is the base64
HMAC-SHA256, keyed with the base64-decoded shared secret, of the lines ``host: ...``, ``date:
...``, ``request-target: post <path>``, ``digest: SHA-256=...``, ``v-c-merchant-id: ...`` joined by
``\\n`` (as cybersource-rest-client-python's ``authenticationsdk`` builds it).

Answers: 201 with the refund (``id``, ``status`` such as PENDING, ``reconciliationId``,
``refundAmountDetails``), returned as :class:`RefundAnswer`; anything else raises
:class:`CyberSourceError`, whose ``transient`` says whether to retry: 5xx (502 SERVER_ERROR), 429,
timeouts and network errors are; 4xx (400 INVALID_REQUEST with a ``reason`` and ``message``, 401 for
a signature CyberSource refused) are not.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from flask import current_app

log = logging.getLogger(__name__)

SIGNED_HEADERS = "host date request-target digest v-c-merchant-id"


class CyberSourceError(Exception):
    """A refund call that did not get a 201: ``message`` is CyberSource's own words when it gave
    any, ``status`` the HTTP status (None when no answer came)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        body: str = "",
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.body = body[:2000]
        self.retry_after = retry_after
        self._retryable = retryable

    @property
    def transient(self) -> bool:
        if self._retryable is not None:
            return self._retryable
        return self.status is None or self.status >= 500 or self.status == 429


@dataclass(frozen=True)
class RefundAnswer:
    """CyberSource's 201 to a refund (``PtsV2PaymentsRefundPost201Response``)."""

    id: str
    status: str
    reconciliation_id: str | None
    code: str | None
    amount: str | None
    currency: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Credentials:
    merchant_id: str
    key_id: str
    secret_key: str  # base64, as the Business Center shows it


def digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def signature(credentials: Credentials, signed: dict[str, str]) -> str:
    """The ``Signature`` header for ``signed`` (its keys are the names in ``SIGNED_HEADERS``)."""
    text = "\n".join(f"{name}: {signed[name]}" for name in SIGNED_HEADERS.split())
    try:
        key = base64.b64decode(credentials.secret_key, validate=True)
    except (binascii.Error, ValueError):
        raise CyberSourceError(
            "CYBERSOURCE_REST_SECRET_KEY is not base64: copy the shared secret exactly as the "
            "Business Center shows it",
            retryable=False,
        ) from None
    mac = base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode()
    return (
        f'keyid="{credentials.key_id}", algorithm="HmacSHA256", '
        f'headers="{SIGNED_HEADERS}", signature="{mac}"'
    )


def signed_headers(
    credentials: Credentials, url: str, body: bytes, *, date: str | None = None
) -> dict[str, str]:
    """Every header of a signed POST of ``body`` to ``url``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    values = {
        "host": parts.netloc,
        "date": date or email.utils.formatdate(usegmt=True),
        "request-target": f"post {target}",
        "digest": digest(body),
        "v-c-merchant-id": credentials.merchant_id,
    }
    return {
        "v-c-merchant-id": values["v-c-merchant-id"],
        "Date": values["date"],
        "Host": values["host"],
        "Digest": values["digest"],
        "Signature": signature(credentials, values),
        "Content-Type": "application/json",
        "Accept": "application/hal+json;charset=utf-8",
    }


def _retry_after(response: requests.Response) -> float | None:
    try:
        value = response.headers.get("Retry-After")
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_text(status: int, data: Any, text: str) -> tuple[str, str | None]:
    """CyberSource's words for a failed call: ``reason: message`` and the fields it named."""
    if isinstance(data, dict):
        reason = data.get("reason") if isinstance(data.get("reason"), str) else None
        message = data.get("message") if isinstance(data.get("message"), str) else None
        rmsg = (
            data.get("response", {}).get("rmsg") if isinstance(data.get("response"), dict) else None
        )
        fields = [
            str(d.get("field"))
            for d in data.get("details") or []
            if isinstance(d, dict) and d.get("field")
        ]
        words = message or (rmsg if isinstance(rmsg, str) else None)
        if words:
            if fields:
                words = f"{words} ({', '.join(fields)})"
            return (f"{reason}: {words}" if reason else words), reason
    flat = " ".join(text.split())[:300]
    return flat or f"HTTP {status}", None


class CyberSourceRestClient:
    def __init__(self, base_url: str, credentials: Credentials, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout

    def refund_payment(
        self, payment_id: str, *, code: str, amount: Decimal, currency: str
    ) -> RefundAnswer:
        """Refund ``amount`` of the payment ``payment_id``; ``code`` makes a retry the same refund."""
        url = f"{self.base_url}/pts/v2/payments/{quote(payment_id, safe='')}/refunds"
        payload = {
            "clientReferenceInformation": {"code": code},
            "orderInformation": {
                "amountDetails": {"totalAmount": f"{amount:.2f}", "currency": currency}
            },
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        what = f"refund of payment {payment_id} ({code})"
        try:
            response = requests.post(
                url,
                data=body,
                headers=signed_headers(self.credentials, url, body),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("cybersource %s: no answer: %s", what, exc)
            raise CyberSourceError(
                f"CyberSource could not be reached: {type(exc).__name__}"
            ) from exc
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        if response.status_code == 201 and isinstance(data, dict) and data.get("id"):
            amounts = data.get("refundAmountDetails") or {}
            reference = data.get("clientReferenceInformation") or {}
            return RefundAnswer(
                id=str(data["id"]),
                status=str(data.get("status") or ""),
                reconciliation_id=data.get("reconciliationId"),
                code=reference.get("code"),
                amount=amounts.get("refundAmount"),
                currency=amounts.get("currency"),
                raw=data,
            )
        text, reason = _error_text(response.status_code, data, response.text)
        if response.status_code == 401:
            text = f"{text}: check CYBERSOURCE_MERCHANT_ID, CYBERSOURCE_REST_KEY_ID and the secret"
        log.warning(
            "cybersource %s answered %s: %s", what, response.status_code, response.text[:500]
        )
        raise CyberSourceError(
            text,
            status=response.status_code,
            reason=reason,
            body=response.text,
            retry_after=_retry_after(response),
        )


def rest_client() -> CyberSourceRestClient:
    """The client for the current app's settings."""
    s = current_app.config["PORTAL"]
    credentials = Credentials(
        merchant_id=s.cybersource_merchant_id,
        key_id=s.cybersource_rest_key_id,
        secret_key=s.cybersource_rest_secret_key,
    )
    return CyberSourceRestClient(s.cybersource_rest_url, credentials, s.http_timeout_seconds)
