"""The emulator's memory: payment pages shown and not yet decided, and what was sent back."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import current_app

from .config import Settings

EXTENSION_KEY = "payment_emulator"


@dataclass
class Delivery:
    """One server-to-server notification attempt (``status`` None when it never got an answer)."""

    url: str
    fields: dict[str, str]
    status: int | None
    error: str = ""


@dataclass
class RestRefund:
    """One refund the REST API accepted (``POST /pts/v2/payments/{id}/refunds``)."""

    id: str
    payment_id: str
    code: str
    amount: Decimal
    currency: str
    body: dict[str, Any]  # the 201 answer, given again to a repeat of the same code


@dataclass
class RestFault:
    """A test-controlled failure for the next refund call: a 502, or a 400 with a reason."""

    status: int
    reason: str
    message: str


@dataclass
class Emulator:
    settings: Settings
    lock: threading.Lock = field(default_factory=threading.Lock)
    # token -> the verified request fields of a payment page awaiting the customer's choice
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    used_transaction_uuids: set[str] = field(default_factory=set)
    # Every signed response built, in order, and every notification attempt (for tests and demos).
    responses: list[dict[str, str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    # The REST refunds: every one accepted, in order; faults queued for the next calls; every
    # refund call's answer status (the 401s with their reason), for tests.
    refunds: list[RestRefund] = field(default_factory=list)
    refund_faults: deque[RestFault] = field(default_factory=deque)
    refund_calls: list[dict[str, Any]] = field(default_factory=list)

    def open_page(self, request_fields: dict[str, str]) -> str | None:
        """Remember a verified request; None if its transaction_uuid was used before."""
        with self.lock:
            uuid = request_fields["transaction_uuid"]
            if uuid in self.used_transaction_uuids:
                return None
            self.used_transaction_uuids.add(uuid)
            token = secrets.token_urlsafe(24)
            self.pending[token] = request_fields
            return token

    def take(self, token: str) -> dict[str, str] | None:
        """The request behind a payment page, once: a second choice on the same page is refused."""
        with self.lock:
            return self.pending.pop(token, None)

    def record(self, response: dict[str, str]) -> None:
        with self.lock:
            self.responses.append(response)

    def delivered(self, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries.append(delivery)

    def approved(self, transaction_id: str) -> dict[str, str] | None:
        """The signed ACCEPT response whose transaction_id is the REST payment id, if any."""
        with self.lock:
            return next(
                (
                    r
                    for r in self.responses
                    if r.get("decision") == "ACCEPT" and r.get("transaction_id") == transaction_id
                ),
                None,
            )

    def next_fault(self) -> RestFault | None:
        with self.lock:
            return self.refund_faults.popleft() if self.refund_faults else None

    def called(self, call: dict[str, Any]) -> None:
        with self.lock:
            self.refund_calls.append(call)


def emulator() -> Emulator:
    found: Emulator = current_app.extensions[EXTENSION_KEY]
    return found
