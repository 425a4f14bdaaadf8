"""The hosted checkout page: ``POST /pay`` shows it, ``POST /pay/<token>`` takes the customer's choice."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import requests
from flask import Blueprint, render_template, request

from .responses import CHOICES, build_response
from .signing import BadRequestSignature, verify_request
from .state import Delivery, emulator

log = logging.getLogger(__name__)
bp = Blueprint("pay", __name__)

REQUIRED_SIGNED = (
    "access_key",
    "profile_id",
    "transaction_uuid",
    "signed_date_time",
    "locale",
    "transaction_type",
    "reference_number",
    "amount",
    "currency",
)
# Overrides change where the result goes, so they count only when signed.
MUST_BE_SIGNED = ("override_custom_receipt_page", "override_backoffice_post_url")
TRANSACTION_TYPES = ("sale", "authorization")


class RequestRefused(ValueError):
    pass


def error_page(message: str, status: int = 400) -> tuple[str, int]:
    return render_template("error.html", message=message), status


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check_request(fields: dict[str, str]) -> None:
    settings = emulator().settings
    try:
        signed, _unsigned = verify_request(fields, settings.secret_key)
    except BadRequestSignature as exc:
        raise RequestRefused(f"Access denied: {exc}.") from exc
    missing = [
        name
        for name in (*REQUIRED_SIGNED, *MUST_BE_SIGNED)
        if name in fields and name not in signed
    ]
    missing += [name for name in REQUIRED_SIGNED if name not in fields]
    if missing:
        raise RequestRefused(
            f"These fields must be sent and signed: {', '.join(sorted(set(missing)))}."
        )
    if fields["access_key"] != settings.access_key or fields["profile_id"] != settings.profile_id:
        raise RequestRefused("Access denied: unknown access_key or profile_id.")
    if fields["transaction_type"] not in TRANSACTION_TYPES:
        raise RequestRefused(f"transaction_type must be one of {', '.join(TRANSACTION_TYPES)}.")
    try:
        amount = Decimal(fields["amount"])
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise RequestRefused("amount must be a positive number with at most two decimals.")
    if len(fields["currency"]) != 3 or not fields["currency"].isalpha():
        raise RequestRefused("currency must be a three-letter ISO code.")
    try:
        dt.datetime.strptime(fields["signed_date_time"], "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise RequestRefused("signed_date_time must be yyyy-MM-dd'T'HH:mm:ss'Z' (UTC).") from exc
    for name in MUST_BE_SIGNED:
        if name in fields and not _http_url(fields[name]):
            raise RequestRefused(f"{name} must be an http(s) URL.")


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.post("/pay")
def pay() -> str | tuple[str, int]:
    fields = request.form.to_dict(flat=True)
    if any(len(values) > 1 for values in request.form.listvalues()):
        return error_page("Access denied: a field was sent more than once.")
    try:
        _check_request(fields)
    except RequestRefused as exc:
        return error_page(str(exc))
    token = emulator().open_page(fields)
    if token is None:
        return error_page(
            "This transaction_uuid was already used; go back to the merchant and start again."
        )
    return render_template("pay.html", token=token, request_fields=fields)


def _notify(url: str, response: dict[str, str]) -> None:
    """Post the merchant notification; whatever happens there, the customer's page goes on."""
    emu = emulator()
    try:
        answer = requests.post(url, data=response, timeout=emu.settings.notify_timeout)
        emu.delivered(Delivery(url, response, answer.status_code))
        if answer.status_code != 200:
            log.warning("merchant notification to %s answered %s", url, answer.status_code)
    except requests.RequestException as exc:
        log.warning("merchant notification to %s failed: %s", url, exc)
        emu.delivered(Delivery(url, response, None, str(exc)))


@bp.post("/pay/<token>")
def decide(token: str) -> str | tuple[str, int]:
    emu = emulator()
    choice = CHOICES.get(request.form.get("decision", ""))
    if choice is None:
        return error_page("Choose Approve, Decline or Cancel.")
    request_fields = emu.take(token)
    if request_fields is None:
        return error_page("This payment page has expired or was already completed.", 410)
    response = build_response(request_fields, choice, emu.settings.secret_key)
    emu.record(response)
    if emu.settings.notify_mode == "before-return":
        _notify(
            request_fields.get("override_backoffice_post_url") or emu.settings.notify_url, response
        )
    receipt = request_fields.get("override_custom_receipt_page") or emu.settings.receipt_url
    return render_template("return.html", action=receipt, fields=response, decision=choice)
