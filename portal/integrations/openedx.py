"""Open edX (Studio and LMS) as the portal uses it, through edx-api-client (openedx.md sections 1-9).

Two credentials from one service client, as the reference system does: a JWT (``token_type=jwt``) for
Studio's course-run API, and an opaque Bearer token for the LMS (course modes, enrollments). Both are
cached until shortly before ``expires_in``; a 401 renews once. Every failure becomes an
``OpenEdxError`` carrying the HTTP status and body, and whether retrying can help (5xx, 429 with its
``Retry-After``, timeouts and network errors are transient; other 4xx are not).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urljoin

import requests
from edx_api.client import EdxApi
from edx_api.course_runs.exceptions import CourseRunAPIError
from flask import current_app

log = logging.getLogger(__name__)
T = TypeVar("T")
TOKEN_MARGIN_SECONDS = 60
_lock = threading.Lock()


class OpenEdxError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body[:2000]
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429


def _retry_after(response: requests.Response | None) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _wrap(exc: BaseException, what: str) -> OpenEdxError:
    """Turn edx-api-client's and requests' exceptions into one error with status and body."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, requests.HTTPError):
        cause = cause.__cause__
    response = cause.response if isinstance(cause, requests.HTTPError) else None
    if response is not None:
        return OpenEdxError(
            f"edX refused to {what}: HTTP {response.status_code} {response.text[:300]}".strip(),
            status=response.status_code,
            body=response.text,
            retry_after=_retry_after(response),
        )
    return OpenEdxError(f"edX could not be reached to {what}: {exc}")


class _Token:
    def __init__(self) -> None:
        self.value = ""
        self.expires = 0.0


class OpenEdxClient:
    def __init__(
        self, lms_url: str, studio_url: str, client_id: str, secret: str, timeout: float
    ) -> None:
        self.lms_url = lms_url.rstrip("/") + "/"
        self.studio_url = studio_url.rstrip("/") + "/"
        self.client_id = client_id
        self.secret = secret
        self.timeout = timeout
        self._tokens = {"jwt": _Token(), "bearer": _Token()}
        self._token_lock = threading.Lock()

    # -- credentials ------------------------------------------------------------------------

    def _token(self, kind: str, *, renew: bool = False) -> str:
        with self._token_lock:
            token = self._tokens[kind]
            if renew or not token.value or time.monotonic() >= token.expires:
                data = {
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.secret,
                }
                if kind == "jwt":
                    data["token_type"] = "jwt"  # noqa: S105 - a token kind, not a secret
                try:
                    response = requests.post(
                        urljoin(self.lms_url, "oauth2/access_token"),
                        data=data,
                        timeout=self.timeout,
                    )
                    response.raise_for_status()
                    body = response.json()
                    token.value = str(body["access_token"])
                except (requests.RequestException, ValueError, KeyError) as exc:
                    raise _wrap(exc, "issue a service token") from exc
                lifetime = float(body.get("expires_in") or 300)
                token.expires = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
            return token.value

    def _call(self, kind: str, what: str, call: Callable[[EdxApi], T]) -> T:
        base = self.studio_url if kind == "jwt" else self.lms_url
        for attempt in (1, 2):
            api = EdxApi(
                {"access_token": self._token(kind, renew=attempt == 2)}, base, self.timeout
            )
            try:
                return call(api)
            except (CourseRunAPIError, requests.RequestException, ValueError) as exc:
                error = _wrap(exc, what)
                if error.status == 401 and attempt == 1:
                    continue  # the token was revoked or expired early: renew once
                if error.status != 404:  # a 404 is an answer ("not there"), not a failure
                    log.warning("openedx %s failed: %s", what, error)
                raise error from exc
        raise AssertionError("unreachable")

    def lms_call(self, what: str, call: Callable[[EdxApi], T]) -> T:
        """Run ``call`` with an edx-api-client authenticated for the LMS (renewing the token once
        on a 401); failures become ``OpenEdxError``."""
        return self._call("bearer", what, call)

    # -- Studio course runs -----------------------------------------------------------------

    def get_course_run(self, key: str) -> dict[str, Any] | None:
        """The Studio course run, or None when edX says 404."""
        try:
            run = self._call(
                "jwt", f"read course run {key}", lambda api: api.course_runs.get_course_run(key)
            )
        except OpenEdxError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(run.json) if hasattr(run, "json") else dict(run)

    def clone_course_run(self, source: str, destination: str) -> None:
        self._call(
            "jwt",
            f"clone {source} to {destination}",
            lambda api: api.course_runs.clone_course_run(source, destination),
        )

    def update_course_run(
        self,
        key: str,
        *,
        title: str,
        pacing_type: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
        enrollment_start: dt.datetime | None = None,
        enrollment_end: dt.datetime | None = None,
        team: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A full PUT that keeps the run's course team (edx-api-client's update omits ``team``,
        and a PUT without it deletes every course-team role), so this call is made directly."""
        body: dict[str, Any] = {"title": title, "pacing_type": pacing_type, "team": team or []}
        if start and end:
            body["schedule"] = {
                "start": _iso(start),
                "end": _iso(end),
                "enrollment_start": _iso(enrollment_start) if enrollment_start else None,
                "enrollment_end": _iso(enrollment_end) if enrollment_end else None,
            }

        def put(api: EdxApi) -> dict[str, Any]:
            session = api.get_requester(token_type="jwt")  # noqa: S106 - a header scheme
            response = session.put(
                urljoin(self.studio_url, f"api/v1/course_runs/{quote(key, safe=':+')}/"), json=body
            )
            response.raise_for_status()
            return dict(response.json())

        return self._call("jwt", f"update course run {key}", put)

    # -- LMS course modes -------------------------------------------------------------------

    def course_mode_slugs(self, key: str) -> set[str]:
        modes = self._call(
            "bearer", f"list modes of {key}", lambda api: api.course_mode.get_course_modes(key)
        )
        return {str(m.json.get("mode_slug")) for m in modes}

    def create_course_mode(self, key: str, slug: str, min_price: int) -> None:
        self._call(
            "bearer",
            f"create mode {slug} of {key}",
            lambda api: api.course_mode.create_course_mode(
                key, slug, slug.capitalize(), "USD", min_price=min_price
            ),
        )

    # -- LMS accounts (openedx.md 10) ---------------------------------------------------------

    def register_user(self, email: str, name: str) -> str:
        """Create the learner's LMS account and return its username.

        A taken username is retried with edX's suggestions (as the reference system does, a few
        attempts). A taken email means the account exists already (another system made it, or a
        registration whose answer was lost): its username is looked up and returned, so calling this
        again after a success is harmless.
        """
        username = _username_for(email)
        for _ in range(REGISTRATION_ATTEMPTS):
            status, body = self._register_once(username, email, name)
            if status == 200:
                user = body.get("authenticated_user")
                found = user.get("username") if isinstance(user, dict) else None
                return str(found or username)
            if body.get("error_code") in ("duplicate-email", "duplicate-email-username"):
                existing = self.find_username(email)
                if existing:
                    return existing
                raise OpenEdxError(
                    f"edX says {email} has an account but does not show it",
                    status=409,
                    body=json.dumps(body),
                )
            suggestions = [s for s in body.get("username_suggestions") or [] if isinstance(s, str)]
            username = suggestions[0] if suggestions else _username_for(email)
        raise OpenEdxError(
            f"edX refused to register {email}: every username tried was taken",
            status=409,
            body=json.dumps(body),
        )

    def _register_once(self, username: str, email: str, name: str) -> tuple[int, dict[str, Any]]:
        """One registration POST: (200, body) or (409, the duplicate body); other errors raise."""
        form = {
            "username": username,
            "email": email,
            "name": name,
            "password": secrets.token_urlsafe(24) + "a1",  # never used: learners sign in via SSO
            "country": "US",
            "honor_code": "true",
            "terms_of_service": "true",
        }

        def post(api: EdxApi) -> tuple[int, dict[str, Any]]:
            with api.get_requester() as session:
                response = session.post(
                    urljoin(self.lms_url, "user_api/v1/account/registration/"), data=form
                )
            if response.status_code != 409:
                response.raise_for_status()
            body = response.json()
            return response.status_code, body if isinstance(body, dict) else {}

        return self._call("bearer", f"register {email}", post)

    def find_username(self, email: str) -> str | None:
        """The username of the LMS account with this email (staff lookup), or None."""

        def get(api: EdxApi) -> Any:
            with api.get_requester() as session:
                response = session.get(
                    urljoin(self.lms_url, "api/user/v1/accounts"), params={"email": email}
                )
            response.raise_for_status()
            return response.json()

        try:
            found = self._call("bearer", f"look up the account of {email}", get)
        except OpenEdxError as exc:
            if exc.status == 404:
                return None
            raise
        accounts = found if isinstance(found, list) else [found]
        for account in accounts:
            if isinstance(account, dict) and account.get("username"):
                return str(account["username"])
        return None

    # -- LMS enrollments (openedx.md 8) -------------------------------------------------------

    def get_enrollment(self, username: str, key: str) -> dict[str, Any] | None:
        """The learner's enrollment in the run, active or not, or None when edX has none."""
        path = f"api/enrollment/v1/enrollment/{quote(username, safe='')},{quote(key, safe=':+')}"

        def get(api: EdxApi) -> Any:
            with api.get_requester() as session:
                response = session.get(urljoin(self.lms_url, path))
            response.raise_for_status()
            return response.json() if response.content.strip() else None

        found = self._call("bearer", f"read the enrollment of {username} in {key}", get)
        return dict(found) if isinstance(found, dict) else None

    def enroll(self, username: str, key: str, mode: str = "verified") -> dict[str, Any]:
        """Enroll (or re-activate, or change the mode) with ``force_enrollment``. edX answers 200
        for all of these; when ``is_active`` is not the boolean true, post once more (openedx.md
        8.4: a mode change of an inactive enrollment leaves it inactive)."""

        def post(api: EdxApi) -> dict[str, Any]:
            enrollment = api.enrollments.create_student_enrollment(
                key, mode=mode, username=username, force_enrollment=True
            )
            return dict(enrollment.json)

        what = f"enroll {username} in {key} as {mode}"
        result = self._call("bearer", what, post)
        if result.get("is_active") is not True:
            result = self._call("bearer", what, post)
        return result

    def deactivate(self, username: str, key: str) -> dict[str, Any]:
        """Deactivate the enrollment (edX keeps it, inactive, in its mode)."""
        return self._call(
            "bearer",
            f"unenroll {username} from {key}",
            lambda api: dict(api.enrollments.deactivate_enrollment(key, username=username).json),
        )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def edx_client() -> OpenEdxClient:
    """The app's Open edX client (one per app, so its tokens are cached between calls)."""
    ext = current_app.extensions
    with _lock:
        if "portal_openedx" not in ext:
            s = current_app.config["PORTAL"]
            ext["portal_openedx"] = OpenEdxClient(
                s.openedx_lms_url,
                s.openedx_studio_url,
                s.openedx_client_id,
                s.openedx_client_secret,
                s.http_timeout_seconds,
            )
        client: OpenEdxClient = ext["portal_openedx"]
        return client


REGISTRATION_ATTEMPTS = 4


def _username_for(email: str) -> str:
    """A valid edX username (2-30 of ``A-Za-z0-9_-``): the email's local part and a short random
    suffix, so two learners called jane at different companies do not collide."""
    base = re.sub(r"[^A-Za-z0-9_-]", "", email.partition("@")[0])[:20] or "learner"
    return f"{base}_{secrets.token_hex(3)}"
