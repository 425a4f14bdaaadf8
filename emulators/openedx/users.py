"""LMS accounts: registration, registration validation, account lookup/update, mobile user info."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from .auth import authenticate
from .dates import format_datetime
from .errors import MERGE_PATCH, PERMISSION_DENIED, ApiError, json_response, not_found, read_body
from .faults import fault_point
from .models import User
from .passwords import hash_password
from .state import emulator

bp = Blueprint("users", __name__)

PLATFORM = "Open edX"
USERNAME_CHARS = re.compile(r"[A-Za-z0-9_-]+")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
TRUE_VALUES = {"true", "True", "1", "on", "yes"}
EDITABLE = {
    "name",
    "country",
    "state",
    "gender",
    "year_of_birth",
    "level_of_education",
    "bio",
    "goals",
    "mailing_address",
    "language_proficiencies",
}
PROFILE_FIELDS = (
    "country",
    "state",
    "gender",
    "year_of_birth",
    "level_of_education",
    "bio",
    "goals",
)


def _username_problem(username: str) -> str | None:
    if not 2 <= len(username) <= 30:
        return "Username must be between 2 and 30 characters long."
    if not USERNAME_CHARS.fullmatch(username):
        return (
            "Usernames can only contain letters (A-Z, a-z), numerals (0-9), underscores (_), "
            "and hyphens (-)."
        )
    return None


def _field_problems(form: dict[str, str], full: bool) -> dict[str, str]:
    """Per-field user messages for the registration form (``full``: all required fields)."""
    problems: dict[str, str] = {}
    if full or "username" in form:
        message = _username_problem(form.get("username", ""))
        if message:
            problems["username"] = message
    email = form.get("email", "")
    if full or "email" in form:
        if len(email) < 3:
            problems["email"] = "Enter a valid email address that contains at least 3 characters."
        elif len(email) > 254 or not EMAIL_RE.fullmatch(email):
            problems["email"] = "Enter a valid email address"
    if (full or "name" in form) and not form.get("name", "").strip():
        problems["name"] = "Enter your full name."
    if full or "password" in form:
        password = form.get("password", "")
        if len(password) < 8:
            problems["password"] = (
                "This password is too short. It must contain at least 8 characters."
            )
        elif password == form.get("username"):
            problems["password"] = "The password is too similar to the username."
    if form.get("country") and not COUNTRY_RE.fullmatch(form["country"]):
        problems["country"] = "Select your country or region of residence"
    if full and form.get("honor_code") not in TRUE_VALUES:
        problems["honor_code"] = f"You must agree to the {PLATFORM} Honor Code"
    if full and "terms_of_service" in form and form["terms_of_service"] not in TRUE_VALUES:
        problems["terms_of_service"] = f"You must agree to the {PLATFORM} Terms of Service"
    return problems


def _suggestions(username: str) -> list[str]:
    store = emulator().store
    base = re.sub(r"[^A-Za-z0-9_-]", "", username)[:24] or "learner"
    found: list[str] = []
    while len(found) < 3:
        candidate = f"{base}{secrets.randbelow(900_000) + 100_000}"
        if store.get_user(candidate) is None and candidate not in found:
            found.append(candidate)
    return found


def _duplicates(username: str, email: str) -> dict[str, Any] | None:
    """The 409 body when the username or the email is taken (case-insensitive), else ``None``."""
    store = emulator().store
    body: dict[str, Any] = {}
    if email and store.get_user_by_email(email) is not None:
        body["email"] = [
            {
                "user_message": f"It looks like {email} belongs to an existing account. "
                "Try again with a different email address."
            }
        ]
    if username and store.get_user(username) is not None:
        body["username"] = [
            {
                "user_message": f"It looks like {username} belongs to an existing account. "
                "Try again with a different username."
            }
        ]
    if not body:
        return None
    body["username_suggestions"] = _suggestions(username) if "username" in body else []
    if "email" in body and "username" in body:
        body["error_code"] = "duplicate-email-username"
    else:
        body["error_code"] = "duplicate-email" if "email" in body else "duplicate-username"
    return body


def _form() -> dict[str, str]:
    return {key: str(request.form.get(key, "")) for key in request.form}


@bp.post("/user_api/v1/account/registration/")
@bp.post("/user_api/v1/account/registration")
@fault_point("registration")
def register() -> Response:
    """Create an LMS account from a form: 200, 409 duplicate, 400 validation (no authentication)."""
    form = _form()
    store = emulator().store
    with store.atomic():
        duplicate = _duplicates(form.get("username", ""), form.get("email", ""))
        if duplicate is not None:
            raise ApiError(409, duplicate)
        problems = _field_problems(form, full=True)
        if problems:
            body: dict[str, Any] = {k: [{"user_message": v}] for k, v in problems.items()}
            body["error_code"] = "invalid-country" if "country" in problems else "validation-error"
            raise ApiError(400, body)
        profile = {k: form[k] for k in PROFILE_FIELDS if form.get(k)}
        if "country" in profile:
            profile["country"] = profile["country"].upper()
        user = store.create_user(
            form["username"],
            form["email"],
            name=form["name"].strip(),
            password_hash=hash_password(form["password"]),
            profile=profile,
        )
    response = json_response(
        {
            "success": True,
            "redirect_url": f"{request.host_url}dashboard",
            "authenticated_user": {
                "username": user.username,
                "full_name": user.name,
                "user_id": user.id,
            },
        }
    )
    response.set_cookie("edxloggedin", "true")
    response.set_cookie("sessionid", secrets.token_hex(16), httponly=True, samesite="Lax")
    return response


@bp.post("/api/user/v1/validation/registration")
@bp.post("/api/user/v1/validation/registration/")
@fault_point("registration.validate")
def validate_registration() -> Response:
    """``""`` for each valid field sent, else the user message; suggestions for a taken username."""
    form = _form()
    problems = _field_problems(form, full=False)
    duplicate = _duplicates(form.get("username", ""), form.get("email", ""))
    decisions: dict[str, str] = {}
    for name in form:
        if name in ("username", "email") and duplicate and name in duplicate:
            decisions[name] = duplicate[name][0]["user_message"]
        elif name in problems:
            decisions[name] = problems[name]
        elif name in ("username", "email", "name", "password", "country"):
            decisions[name] = ""
    suggestions = duplicate["username_suggestions"] if duplicate else []
    return json_response({"validation_decisions": decisions, "username_suggestions": suggestions})


def account_representation(user: User) -> dict[str, Any]:
    """The owner's (or staff's) view of an account."""
    profile = user.profile
    return {
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "id": user.id,
        "is_active": user.is_active,
        "date_joined": format_datetime(user.date_joined),
        "country": profile.get("country"),
        "state": profile.get("state"),
        "gender": profile.get("gender"),
        "year_of_birth": profile.get("year_of_birth"),
        "level_of_education": profile.get("level_of_education"),
        "bio": profile.get("bio"),
        "goals": profile.get("goals"),
        "language_proficiencies": profile.get("language_proficiencies", []),
        "profile_image": {"has_image": False},
        "requires_parental_consent": False,
        "account_privacy": "private",
    }


@bp.get("/api/user/v1/accounts")
@bp.get("/api/user/v1/accounts/")
@fault_point("accounts.get")
def find_accounts() -> Response:
    """``?username=a,b`` (own account unless staff) or ``?email=`` (staff only): a list."""
    principal = authenticate()
    store = emulator().store
    email = request.args.get("email")
    if email:
        if not principal.is_staff:
            raise ApiError(403, PERMISSION_DENIED)
        user = store.get_user_by_email(email)
        if user is None:
            raise not_found()
        return json_response([account_representation(user)])
    raw = request.args.get("username") or request.args.get("usernames")
    if not raw:
        raise ApiError(400, {"developer_message": "Pass username (comma-separated) or email."})
    found = []
    for name in (u.strip() for u in raw.split(",") if u.strip()):
        user = store.get_user(name)
        if user is not None and (principal.is_staff or user.id == principal.user.id):
            found.append(account_representation(user))
    return json_response(found)


@bp.get("/api/user/v1/accounts/<username>")
@fault_point("accounts.get")
def get_account(username: str) -> Response:
    """The full account for its owner and staff; only the username for anyone else."""
    principal = authenticate()
    user = emulator().store.get_user(username)
    if user is None:
        raise not_found()
    if principal.is_staff or principal.user.id == user.id:
        return json_response(account_representation(user))
    return json_response({"username": user.username, "account_privacy": "private"})


def _not_editable(name: str) -> dict[str, str]:
    return {
        "developer_message": "This field is not editable via this API",
        "user_message": f"The '{name}' field cannot be edited.",
    }


@bp.patch("/api/user/v1/accounts/<username>")
@fault_point("accounts.update")
def update_account(username: str) -> Response:
    """Merge-patch (415 otherwise) by the owner or staff; read-only fields give ``field_errors``."""
    principal = authenticate()
    store = emulator().store
    with store.atomic():
        user = store.get_user(username)
        if user is None:
            raise not_found()
        if not principal.is_staff and principal.user.id != user.id:
            raise ApiError(403, PERMISSION_DENIED)
        data = read_body((MERGE_PATCH,))
        if not isinstance(data, dict):
            raise ApiError(400, {"developer_message": "The request body must be a JSON object."})
        field_errors = {name: _not_editable(name) for name in data if name not in EDITABLE}
        if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
            field_errors["name"] = {
                "developer_message": "The name field must be at least 1 character long.",
                "user_message": "The name field must be at least 1 character long.",
            }
        if field_errors:
            raise ApiError(400, {"field_errors": field_errors})
        for name, value in data.items():
            if name == "name":
                user.name = value.strip()
            else:
                user.profile[name] = value
        store.save_user(user)
    return json_response(account_representation(user))


@bp.get("/api/mobile/v0.5/my_user_info")
@bp.get("/api/mobile/<version>/my_user_info")
@fault_point("user_info")
def my_user_info(version: str = "v0.5") -> WerkzeugResponse:
    """Redirects the caller to their mobile user detail, as edX does."""
    principal = authenticate()
    return redirect(f"/api/mobile/{version}/users/{principal.username}", code=302)


@bp.get("/api/mobile/<version>/users/<username>")
@bp.get("/api/mobile/<version>/users/<username>/")
@fault_point("user_info")
def mobile_user(version: str, username: str) -> Response:
    principal = authenticate()
    user = emulator().store.get_user(username)
    if user is None or (user.id != principal.user.id and not principal.is_staff):
        raise ApiError(403, PERMISSION_DENIED)
    return json_response(
        {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "name": user.name,
            "course_enrollments": (
                f"{request.host_url}api/mobile/{version}/users/{user.username}/course_enrollments/"
            ),
        }
    )
