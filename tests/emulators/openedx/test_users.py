"""Registration, registration validation and account lookup/update (§10, §2.12)."""

from __future__ import annotations

from collections.abc import Callable

import requests
from edx_api.client import EdxApi

from .conftest import EdxEmulator


def _form(username: str, email: str | None = None, **extra: str) -> dict[str, str]:
    return {
        "username": username,
        "email": email or f"{username}@example.com",
        "name": "Ada Lovelace",
        "password": "correct-horse-1",
        "honor_code": "true",
        "terms_of_service": "true",
        **extra,
    }


def _register(edx_server: EdxEmulator, form: dict[str, str]) -> requests.Response:
    return edx_server.session().post(
        f"{edx_server.url}/user_api/v1/account/registration/", data=form, timeout=10
    )


def test_registration_success(edx_server: EdxEmulator) -> None:
    response = _register(edx_server, _form("ada_l", country="GB"))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["redirect_url"] == f"{edx_server.url}/dashboard"
    assert body["authenticated_user"]["username"] == "ada_l"
    assert body["authenticated_user"]["full_name"] == "Ada Lovelace"
    assert isinstance(body["authenticated_user"]["user_id"], int)
    assert "edxloggedin" in response.cookies


def test_registration_conflicts_are_409(edx_server: EdxEmulator) -> None:
    _register(edx_server, _form("ada_l"))
    username = _register(edx_server, _form("ADA_L", "other@example.com"))
    assert username.status_code == 409
    body = username.json()
    assert body["error_code"] == "duplicate-username"
    assert body["username"] == [
        {
            "user_message": "It looks like ADA_L belongs to an existing account. "
            "Try again with a different username."
        }
    ]
    assert len(body["username_suggestions"]) == 3
    assert "email" not in body
    email = _register(edx_server, _form("grace", "Ada_L@Example.com"))
    assert email.status_code == 409
    assert email.json()["error_code"] == "duplicate-email"
    assert email.json()["username_suggestions"] == []
    both = _register(edx_server, _form("ada_l"))
    assert both.json()["error_code"] == "duplicate-email-username"


def test_registration_validation_is_400(edx_server: EdxEmulator) -> None:
    response = _register(
        edx_server,
        {"username": "x", "email": "nope", "password": "short", "country": "Narnia"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "invalid-country"
    assert body["username"] == [
        {"user_message": "Username must be between 2 and 30 characters long."}
    ]
    assert set(body) == {
        "username",
        "email",
        "name",
        "password",
        "country",
        "honor_code",
        "error_code",
    }
    json_body = edx_server.session().post(
        f"{edx_server.url}/user_api/v1/account/registration/", json=_form("json_user"), timeout=10
    )
    assert json_body.status_code == 400  # edX reads the form only
    assert json_body.json()["error_code"] == "validation-error"


def test_validation_endpoint(edx_server: EdxEmulator) -> None:
    _register(edx_server, _form("taken"))
    response = edx_server.session().post(
        f"{edx_server.url}/api/user/v1/validation/registration",
        data={"username": "taken", "email": "free@example.com"},
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["validation_decisions"]["email"] == ""
    assert body["validation_decisions"]["username"].startswith("It looks like taken belongs")
    assert len(body["username_suggestions"]) == 3


def test_account_lookup_by_username_and_email(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register(email="lookup@example.com")
    account = edx_lms.get(f"{edx_server.url}/api/user/v1/accounts/{username}", timeout=10).json()
    assert account["email"] == "lookup@example.com"
    assert account["country"] == "US"
    by_email = edx_lms.get(
        f"{edx_server.url}/api/user/v1/accounts", params={"email": "LOOKUP@example.com"}, timeout=10
    )
    assert [a["username"] for a in by_email.json()] == [username]
    by_names = edx_lms.get(
        f"{edx_server.url}/api/user/v1/accounts",
        params={"username": f"{username},ghost"},
        timeout=10,
    )
    assert [a["username"] for a in by_names.json()] == [username]
    missing = edx_lms.get(
        f"{edx_server.url}/api/user/v1/accounts", params={"email": "ghost@example.com"}, timeout=10
    )
    assert missing.status_code == 404
    assert (
        edx_lms.get(f"{edx_server.url}/api/user/v1/accounts/ghost", timeout=10).status_code == 404
    )


def test_learner_sees_only_own_account(
    edx_server: EdxEmulator,
    edx_register: Callable[..., str],
    edx_learner_session: Callable[[str], requests.Session],
) -> None:
    me, other = edx_register(), edx_register()
    learner = edx_learner_session(me)
    assert learner.get(f"{edx_server.url}/api/user/v1/accounts/{me}", timeout=10).json()["email"]
    assert learner.get(f"{edx_server.url}/api/user/v1/accounts/{other}", timeout=10).json() == {
        "username": other,
        "account_privacy": "private",
    }
    by_email = learner.get(
        f"{edx_server.url}/api/user/v1/accounts",
        params={"email": f"{other}@example.com"},
        timeout=10,
    )
    assert by_email.status_code == 403


def test_account_patch(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    url = f"{edx_server.url}/api/user/v1/accounts/{username}"
    merge = {"Content-Type": "application/merge-patch+json"}
    wrong = edx_lms.patch(url, json={"name": "X"}, timeout=10)
    assert wrong.status_code == 415
    ok = edx_lms.patch(url, data='{"name": "New Name", "country": "DE"}', headers=merge, timeout=10)
    assert ok.status_code == 200
    assert (ok.json()["name"], ok.json()["country"]) == ("New Name", "DE")
    locked = edx_lms.patch(url, data='{"username": "x"}', headers=merge, timeout=10)
    assert locked.status_code == 400
    assert locked.json() == {
        "field_errors": {
            "username": {
                "developer_message": "This field is not editable via this API",
                "user_message": "The 'username' field cannot be edited.",
            }
        }
    }


def test_edx_api_client_user_calls(
    edx_server: EdxEmulator,
    edx_register: Callable[..., str],
    edx_learner_session: Callable[[str], requests.Session],
) -> None:
    username = edx_register()
    token = edx_learner_session(username).headers["Authorization"].split()[1]
    api = EdxApi({"access_token": token}, base_url=f"{edx_server.url}/", timeout=10)
    info = api.user_info.get_user_info()
    assert (info.username, info.email) == (username, f"{username}@example.com")
    renamed = api.user_info.update_user_name(username, "Renamed Learner")
    assert renamed.name == "Renamed Learner"
    result = api.user_validation.validate_user_registration_info({"username": username})
    assert result.validation_decisions["username"].startswith("It looks like")
