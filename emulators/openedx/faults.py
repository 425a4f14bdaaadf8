"""Fault injection: per-endpoint 5xx/429 for the next N calls, latency, and late LMS course overviews.

Each API view is tagged with a stable endpoint name by :func:`fault_point`. Faults are queued per
endpoint; a call consumes the first matching fault with a status (and all latency-only ones).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

ENDPOINTS: tuple[str, ...] = (
    "token",
    "course_runs.list",
    "course_runs.create",
    "course_runs.get",
    "course_runs.update",
    "course_runs.clone",
    "course_runs.rerun",
    "course_modes.list",
    "course_modes.create",
    "course_modes.get",
    "course_modes.update",
    "course_modes.delete",
    "enrollment.post",
    "enrollment.get",
    "enrollments.list",
    "registration",
    "registration.validate",
    "accounts.get",
    "accounts.update",
    "user_info",
    "courses.list",
    "courses.get",
    "email_settings",
    "grades.course",
    "certificates.get",
    "certificates.list",
    "completion.course",
)
WILDCARD = "*"
_FIELDS = {
    "endpoint",
    "status",
    "count",
    "retry_after",
    "latency_ms",
    "after",
    "commit",
    "skip",
    "unenrollable_after_clone_s",
}

F = TypeVar("F", bound=Callable[..., Any])


def fault_point(name: str) -> Callable[[F], F]:
    """Tag a view with its stable fault-injection endpoint name."""
    if name not in ENDPOINTS:
        raise ValueError(f"unknown fault endpoint {name!r}")

    def decorate(view: F) -> F:
        view.fault_point = name  # type: ignore[attr-defined]
        return view

    return decorate


class FaultSpecError(ValueError):
    """An invalid fault description (answered with 400 by the admin route)."""


@dataclass
class Fault:
    """One queued fault. ``count`` ``None`` means until cleared."""

    id: int
    endpoint: str
    status: int | None
    count: int | None
    retry_after: int | None
    latency_ms: int
    after: str | None
    armed: bool
    commit: bool
    skip: int


@dataclass(frozen=True)
class FaultAction:
    """What to do to one call."""

    endpoint: str
    status: int | None
    retry_after: int | None
    latency_ms: int
    commit: bool


def _int(spec: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = spec.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be an integer between {low} and {high}")
    return value


def _endpoint(value: Any, field: str) -> str:
    if value != WILDCARD and value not in ENDPOINTS:
        raise FaultSpecError(f"{field} must be one of the endpoint names (or '*'), got {value!r}")
    return str(value)


class FaultRegistry:
    """Thread-safe queue of faults plus the un-enrollable-after-clone window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self.unenrollable_after_clone_s: float = 0.0

    def parse(self, spec: Any) -> tuple[Fault | None, float | None]:
        """Validate one fault object: (fault to queue or ``None``, window setting or ``None``)."""
        if not isinstance(spec, dict):
            raise FaultSpecError("a fault must be a JSON object")
        unknown = sorted(set(spec) - _FIELDS)
        if unknown:
            raise FaultSpecError(f"unknown field(s): {', '.join(unknown)}")
        window = spec.get("unenrollable_after_clone_s")
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int | float) or window < 0
        ):
            raise FaultSpecError("unenrollable_after_clone_s must be a number >= 0")
        if "endpoint" in spec:
            _endpoint(spec["endpoint"], "endpoint")
        has_fault = bool(set(spec) - {"unenrollable_after_clone_s", "endpoint"})
        if not has_fault and window is None:
            raise FaultSpecError("give a status, latency_ms or unenrollable_after_clone_s")
        return (self._parse(spec) if has_fault else None), (
            None if window is None else float(window)
        )

    def add_all(self, specs: list[Any]) -> list[Fault]:
        """Validate every spec, then queue them all (nothing is queued if one is invalid)."""
        parsed = [self.parse(spec) for spec in specs]
        added: list[Fault] = []
        with self._lock:
            for fault, window in parsed:
                if window is not None:
                    self.unenrollable_after_clone_s = window
                if fault is not None:
                    fault.id = self._next_id
                    self._next_id += 1
                    self._faults.append(fault)
                    added.append(fault)
        return added

    @staticmethod
    def _parse(spec: dict[str, Any]) -> Fault:
        endpoint = _endpoint(spec.get("endpoint"), "endpoint")
        status = _int(spec, "status", None, 100, 599)
        if status is not None and status != 429 and not 500 <= status <= 599:
            raise FaultSpecError("status must be 429 or a 5xx code")
        latency = _int(spec, "latency_ms", 0, 0, 120_000) or 0
        if status is None and not latency:
            raise FaultSpecError("a fault needs a status or latency_ms")
        count = _int(spec, "count", 1 if status is not None else None, 1, 1_000_000)
        retry_after = _int(spec, "retry_after", 1 if status == 429 else None, 0, 86_400)
        after = spec.get("after")
        if after is not None:
            after = _endpoint(after, "after")
        commit = spec.get("commit", False)
        if not isinstance(commit, bool):
            raise FaultSpecError("commit must be a boolean")
        if commit and status is None:
            raise FaultSpecError("commit needs a status")
        return Fault(
            id=0,
            endpoint=endpoint,
            status=status,
            count=count,
            retry_after=retry_after,
            latency_ms=latency,
            after=after,
            armed=after is None,
            commit=commit,
            skip=_int(spec, "skip", 0, 0, 1_000_000) or 0,
        )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.unenrollable_after_clone_s = 0.0

    def take(self, endpoint: str) -> FaultAction | None:
        """Consume what applies to one call of ``endpoint``."""
        with self._lock:
            status: Fault | None = None
            latency = 0
            for fault in list(self._faults):
                if fault.endpoint not in (endpoint, WILDCARD) or not fault.armed:
                    continue
                if fault.status is not None and status is not None:
                    continue
                if fault.skip:
                    fault.skip -= 1
                    continue
                latency += fault.latency_ms
                if fault.status is not None:
                    status = fault
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
            if status is None and not latency:
                return None
            return FaultAction(
                endpoint=endpoint,
                status=None if status is None else status.status,
                retry_after=None if status is None else status.retry_after,
                latency_ms=latency,
                commit=False if status is None else status.commit,
            )

    def notify_success(self, endpoint: str) -> None:
        """Arm the faults waiting for a successful call of ``endpoint``."""
        with self._lock:
            for fault in self._faults:
                if not fault.armed and fault.after == endpoint:
                    fault.armed = True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults": [asdict(f) for f in self._faults],
                "unenrollable_after_clone_s": self.unenrollable_after_clone_s,
                "endpoints": list(ENDPOINTS),
            }


def fault_response(action: FaultAction) -> Response:
    """The injected failure: DRF's throttle body for 429, Django/nginx-style HTML for 5xx."""
    status = action.status or 500
    headers = {"X-Emulator-Fault": action.endpoint}
    if action.retry_after is not None:
        headers["Retry-After"] = str(action.retry_after)
    if status == 429:
        wait = action.retry_after or 0
        body = (
            f"Request was throttled. Expected available in {wait} second{'' if wait == 1 else 's'}."
        )
        return Response(json.dumps({"detail": body}), 429, headers, mimetype="application/json")
    if status == 500:
        return Response("<h1>Server Error (500)</h1>", 500, headers, mimetype="text/html")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server Error"
    html = (
        f"<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}"
        "</h1></center><hr><center>nginx</center></body></html>"
    )
    return Response(html, status, headers, mimetype="text/html")


def install(app: Flask, registry: FaultRegistry) -> None:
    """Apply faults before the tagged views run and arm ``after`` faults on success."""

    def endpoint_name() -> str | None:
        view = current_app.view_functions.get(request.endpoint or "")
        return getattr(view, "fault_point", None)

    @app.before_request
    def _inject() -> Response | None:
        name = endpoint_name()
        if name is None:
            return None
        action = registry.take(name)
        if action is None:
            return None
        if action.latency_ms:
            time.sleep(action.latency_ms / 1000)
        if action.status is None:
            return None
        if action.commit:
            g.emulator_fault = action
            return None
        return fault_response(action)

    @app.after_request
    def _after(response: Response) -> Response:
        name = endpoint_name()
        if name is None or response.headers.get("X-Emulator-Fault"):
            return response
        if response.status_code < 400:
            registry.notify_success(name)
        action: FaultAction | None = g.pop("emulator_fault", None)
        if action is not None:
            return fault_response(action)
        return response
