"""The emulator's memory: payment pages shown and not yet decided, and what was sent back."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

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
class Emulator:
    settings: Settings
    lock: threading.Lock = field(default_factory=threading.Lock)
    # token -> the verified request fields of a payment page awaiting the customer's choice
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    used_transaction_uuids: set[str] = field(default_factory=set)
    # Every signed response built, in order, and every notification attempt (for tests and demos).
    responses: list[dict[str, str]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

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


def emulator() -> Emulator:
    found: Emulator = current_app.extensions[EXTENSION_KEY]
    return found
