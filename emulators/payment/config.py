"""Emulator settings: documented defaults, overridden by the environment, then by ``create_app(config)``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

DEFAULTS: dict[str, str] = {
    # The Secure Acceptance profile the portal signs for, and its shared secret key.
    "CYBERSOURCE_EMULATOR_PROFILE_ID": "demo-profile",
    "CYBERSOURCE_EMULATOR_ACCESS_KEY": "demo-access-key",
    "CYBERSOURCE_EMULATOR_SECRET_KEY": "demo-cybersource-secret",
    # The profile's merchant POST URL and custom receipt page; a signed
    # override_backoffice_post_url / override_custom_receipt_page in the request wins.
    "CYBERSOURCE_EMULATOR_NOTIFY_URL": "http://127.0.0.1:5000/checkout/notify",
    "CYBERSOURCE_EMULATOR_RECEIPT_URL": "http://127.0.0.1:5000/checkout/receipt",
    # "before-return": post the notification, then send the browser back (the default);
    # "off": send none (tests then deliver the recorded responses themselves, in any order).
    "CYBERSOURCE_EMULATOR_NOTIFY_MODE": "before-return",
    "CYBERSOURCE_EMULATOR_NOTIFY_TIMEOUT": "10",
    # The REST API (refunds): the merchant id, and the HTTP Signature shared secret key's id and
    # base64 secret, as made in the Business Center (the portal's CYBERSOURCE_MERCHANT_ID,
    # CYBERSOURCE_REST_KEY_ID and CYBERSOURCE_REST_SECRET_KEY).
    "CYBERSOURCE_EMULATOR_MERCHANT_ID": "demo-merchant",
    "CYBERSOURCE_EMULATOR_REST_KEY_ID": "demo-rest-key-id",
    "CYBERSOURCE_EMULATOR_REST_SECRET_KEY": "ZGVtby1jeWJlcnNvdXJjZS1yZXN0LXNlY3JldC1rZXk=",
    # How far a request's Date may be from the emulator's clock, in seconds.
    "CYBERSOURCE_EMULATOR_REST_CLOCK_SKEW": "300",
}
NOTIFY_MODES = ("before-return", "off")


@dataclass(frozen=True)
class Settings:
    profile_id: str
    access_key: str
    secret_key: str
    notify_url: str
    receipt_url: str
    notify_mode: str
    notify_timeout: float
    merchant_id: str
    rest_key_id: str
    rest_secret_key: str
    rest_clock_skew: float


def resolve(config: dict[str, Any] | None) -> Settings:
    merged: dict[str, Any] = dict(DEFAULTS)
    for key in DEFAULTS:
        if key in os.environ:
            merged[key] = os.environ[key]
    merged.update(config or {})
    mode = str(merged["CYBERSOURCE_EMULATOR_NOTIFY_MODE"])
    if mode not in NOTIFY_MODES:
        raise ValueError(
            f"CYBERSOURCE_EMULATOR_NOTIFY_MODE must be one of {', '.join(NOTIFY_MODES)}, not {mode!r}"
        )
    try:
        timeout = float(merged["CYBERSOURCE_EMULATOR_NOTIFY_TIMEOUT"])
    except (TypeError, ValueError):
        timeout = 10.0
    try:
        skew = float(merged["CYBERSOURCE_EMULATOR_REST_CLOCK_SKEW"])
    except (TypeError, ValueError):
        skew = 300.0
    return Settings(
        profile_id=str(merged["CYBERSOURCE_EMULATOR_PROFILE_ID"]),
        access_key=str(merged["CYBERSOURCE_EMULATOR_ACCESS_KEY"]),
        secret_key=str(merged["CYBERSOURCE_EMULATOR_SECRET_KEY"]),
        notify_url=str(merged["CYBERSOURCE_EMULATOR_NOTIFY_URL"]),
        receipt_url=str(merged["CYBERSOURCE_EMULATOR_RECEIPT_URL"]),
        notify_mode=mode,
        notify_timeout=max(timeout, 0.1),
        merchant_id=str(merged["CYBERSOURCE_EMULATOR_MERCHANT_ID"]),
        rest_key_id=str(merged["CYBERSOURCE_EMULATOR_REST_KEY_ID"]),
        rest_secret_key=str(merged["CYBERSOURCE_EMULATOR_REST_SECRET_KEY"]),
        rest_clock_skew=max(skew, 1.0),
    )
