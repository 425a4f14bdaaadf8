"""``POST /oauth2/access_token`` and how every API authenticates (§3, §2.1-2.2)."""

from __future__ import annotations

import base64

import pytest

from .conftest import CLIENT_ID, CLIENT_SECRET, PASSWORD, SOURCE_RUN, EdxEmulator


def _post_token(edx_server: EdxEmulator, **form: str):
    return edx_server.session().post(f"{edx_server.url}/oauth2/access_token", data=form, timeout=10)


def test_client_credentials_jwt(edx_server: EdxEmulator) -> None:
    body = edx_server.token("jwt")
    assert body["token_type"] == "JWT"
    assert body["expires_in"] == 36000
    assert body["scope"] == "read write email profile"
    assert body["access_token"].count(".") == 2
    assert "refresh_token" not in body


def test_client_credentials_without_token_type_is_opaque_bearer(edx_server: EdxEmulator) -> None:
    body = edx_server.token()
    assert body["token_type"] == "Bearer"
    assert "." not in body["access_token"]
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}


def test_token_type_is_case_insensitive(edx_server: EdxEmulator) -> None:
    assert edx_server.token("JWT")["token_type"] == "JWT"


def test_basic_auth_client_credentials(edx_server: EdxEmulator) -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    response = edx_server.session().post(
        f"{edx_server.url}/oauth2/access_token",
        data={"grant_type": "client_credentials", "token_type": "jwt"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "JWT"


def test_bad_secret_is_invalid_client(edx_server: EdxEmulator) -> None:
    response = _post_token(
        edx_server, grant_type="client_credentials", client_id=CLIENT_ID, client_secret="nope"
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_client_is_invalid_client(edx_server: EdxEmulator) -> None:
    response = _post_token(edx_server, grant_type="client_credentials", client_id="other")
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_wrong_grant(edx_server: EdxEmulator) -> None:
    response = _post_token(
        edx_server,
        grant_type="authorization_codes",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_missing_grant(edx_server: EdxEmulator) -> None:
    response = _post_token(edx_server, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Request is missing grant type.",
    }


def test_json_body_is_not_read(edx_server: EdxEmulator) -> None:
    """oauthlib reads forms only: a JSON body is a request without grant type."""
    response = edx_server.session().post(
        f"{edx_server.url}/oauth2/access_token",
        json={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "x"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_public_client_cannot_use_client_credentials(edx_server: EdxEmulator) -> None:
    response = _post_token(
        edx_server, grant_type="client_credentials", client_id="login-service-client-id"
    )
    assert response.status_code == 401


def test_password_grant_and_refresh_rotation(edx_server: EdxEmulator, edx_register) -> None:
    username = edx_register()
    first = _post_token(
        edx_server,
        grant_type="password",
        client_id="login-service-client-id",
        username=username,
        password=PASSWORD,
    )
    assert first.status_code == 200
    tokens = first.json()
    assert tokens["token_type"] == "Bearer"
    refreshed = _post_token(
        edx_server,
        grant_type="refresh_token",
        client_id="login-service-client-id",
        refresh_token=tokens["refresh_token"],
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    reused = _post_token(
        edx_server,
        grant_type="refresh_token",
        client_id="login-service-client-id",
        refresh_token=tokens["refresh_token"],
    )
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant"}


def test_password_grant_bad_password(edx_server: EdxEmulator, edx_register) -> None:
    username = edx_register()
    response = _post_token(
        edx_server,
        grant_type="password",
        client_id="login-service-client-id",
        username=username,
        password="wrong-password",
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid credentials given.",
    }


def test_bad_refresh_token(edx_server: EdxEmulator) -> None:
    response = _post_token(
        edx_server,
        grant_type="refresh_token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token="not-a-token",
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "JWT", "jwt"])
@pytest.mark.parametrize("kind", ["jwt", None])
def test_any_prefix_accepts_any_issued_token(edx_server: EdxEmulator, scheme, kind) -> None:
    token = edx_server.token(kind)["access_token"]
    response = edx_server.session(token, scheme).get(
        f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/", timeout=10
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "body"),
    [
        (None, {"detail": "Authentication credentials were not provided."}),
        ("Basic abc", {"detail": "Authentication credentials were not provided."}),
        ("Bearer", {"detail": "Invalid token header. No credentials provided."}),
        (
            "Bearer unknown-token",
            {
                "error_code": "token_nonexistent",
                "developer_message": "The provided access token does not match any valid tokens.",
            },
        ),
        ("JWT a.b.c", {"detail": "Error decoding token."}),
    ],
)
def test_unauthenticated_is_401(edx_server: EdxEmulator, header, body) -> None:
    headers = {"Authorization": header} if header else {}
    for path in (
        f"/api/v1/course_runs/{SOURCE_RUN}/",
        f"/api/course_modes/v1/courses/{SOURCE_RUN}/",
        "/api/enrollment/v1/enrollment",
        "/api/enrollment/v1/enrollments",
    ):
        response = edx_server.session().get(f"{edx_server.url}{path}", headers=headers, timeout=10)
        assert response.status_code == 401, path
        assert response.json() == body


def test_expired_tokens(edx_server: EdxEmulator) -> None:
    with edx_server.app.app_context():
        emu = edx_server.state()
        service = emu.store.get_user(emu.settings.service_username)
        assert service is not None
        opaque = emu.tokens.issue(service, CLIENT_ID, "client_credentials", as_jwt=False)
        with emu.store.atomic() as conn:
            conn.execute(
                "UPDATE tokens SET expires_at = ? WHERE token = ?",
                ("2000-01-01T00:00:00Z", opaque.access_token),
            )
        emu.tokens.ttl = -10
        try:
            old_jwt = emu.tokens.issue(service, CLIENT_ID, "client_credentials", as_jwt=True)
        finally:
            emu.tokens.ttl = emu.settings.token_ttl
    path = f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/"
    expired = edx_server.session(opaque.access_token).get(path, timeout=10)
    assert expired.status_code == 401
    assert expired.json() == {
        "error_code": "token_expired",
        "developer_message": "The provided access token has expired and is no longer valid.",
    }
    expired_jwt = edx_server.session(old_jwt.access_token, "JWT").get(path, timeout=10)
    assert expired_jwt.status_code == 401
    assert expired_jwt.json() == {"detail": "Signature has expired."}


def test_learner_token_is_not_staff(
    edx_server: EdxEmulator, edx_register, edx_learner_session
) -> None:
    learner = edx_learner_session(edx_register())
    forbidden = {"detail": "You do not have permission to perform this action."}
    for method, path in (
        ("GET", "/api/v1/course_runs/"),
        ("GET", f"/api/v1/course_runs/{SOURCE_RUN}/"),
        ("POST", "/api/v1/course_runs/clone/"),
        ("GET", f"/api/course_modes/v1/courses/{SOURCE_RUN}/"),
        ("POST", f"/api/course_modes/v1/courses/{SOURCE_RUN}/"),
        ("GET", "/api/enrollment/v1/enrollments"),
    ):
        response = learner.request(method, f"{edx_server.url}{path}", json={}, timeout=10)
        assert response.status_code == 403, path
        assert response.json() == forbidden


def test_admin_minted_learner_token(edx_server: EdxEmulator, edx_register) -> None:
    username = edx_register()
    response = edx_server.session().post(
        f"{edx_server.url}/__emulator__/tokens", json={"username": username}, timeout=10
    )
    assert response.status_code == 201
    token = response.json()["access_token"]
    mine = edx_server.session(token).get(
        f"{edx_server.url}/api/enrollment/v1/enrollment", timeout=10
    )
    assert mine.status_code == 200
    assert mine.json() == []
