"""Waiting for something another thread or process does, with a deadline and a clear failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], what: str | Callable[[], str], timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` (text, or a function
    that describes the state at that moment) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {described}")
        time.sleep(0.05)


__all__ = ["wait_for"]
