"""edX's enrollment-API throttle (40 requests/min per user, 120/min for staff), off unless enabled."""

from __future__ import annotations

import threading
import time
from collections import deque

from .errors import ApiError

USER_RATE = 40
STAFF_RATE = 120
WINDOW_S = 60.0


class Throttle:
    """A sliding one-minute window per username."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()

    def check(self, username: str, is_staff: bool) -> None:
        """Record a request; raise DRF's 429 with ``Retry-After`` when over the rate."""
        if not self.enabled:
            return
        rate = STAFF_RATE if is_staff else USER_RATE
        current = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(username, deque())
            while hits and current - hits[0] >= WINDOW_S:
                hits.popleft()
            if len(hits) >= rate:
                wait = max(1, int(WINDOW_S - (current - hits[0]) + 0.999))
                raise ApiError(
                    429,
                    {"detail": f"Request was throttled. Expected available in {wait} seconds."},
                    {"Retry-After": str(wait)},
                )
            hits.append(current)
