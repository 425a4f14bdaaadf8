"""Discovery, realm info and JWKS (§2.1, §4.1, §4.5)."""

from __future__ import annotations

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from .helpers import DEMO_CLIENT, DEMO_REALM, DEMO_SECRET


def test_discovery_document_has_keycloak_keys(kc_base_url: str) -> None:
    response = requests.get(
        f"{kc_base_url}/realms/{DEMO_REALM}/.well-known/openid-configuration", timeout=10
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-cache, must-revalidate, no-transform, no-store"
    doc = response.json()
    issuer = f"{kc_base_url}/realms/{DEMO_REALM}"
    oidc = f"{issuer}/protocol/openid-connect"
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == f"{oidc}/auth"
    assert doc["token_endpoint"] == f"{oidc}/token"
    assert doc["userinfo_endpoint"] == f"{oidc}/userinfo"
    assert doc["end_session_endpoint"] == f"{oidc}/logout"
    assert doc["jwks_uri"] == f"{oidc}/certs"
    assert doc["introspection_endpoint"] == f"{oidc}/token/introspect"
    assert doc["revocation_endpoint"] == f"{oidc}/revoke"
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    assert doc["code_challenge_methods_supported"] == ["plain", "S256"]
    assert "organization" in doc["scopes_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]
    assert {"authorization_code", "refresh_token", "client_credentials", "password"} <= set(
        doc["grant_types_supported"]
    )
    assert doc["subject_types_supported"] == ["public", "pairwise"]
    assert doc["backchannel_logout_supported"] is True
    assert "code" in doc["response_types_supported"]


def test_organization_scope_listed_only_when_realm_flag_is_on(kc_base_url: str) -> None:
    doc = requests.get(f"{kc_base_url}/realms/master/.well-known/openid-configuration", timeout=10)
    assert "organization" not in doc.json()["scopes_supported"]


def test_unknown_realm_is_404(kc_base_url: str) -> None:
    response = requests.get(
        f"{kc_base_url}/realms/nope/.well-known/openid-configuration", timeout=10
    )
    assert response.status_code == 404
    assert response.json() == {"error": "Realm does not exist"}


def test_realm_info_publishes_the_public_key(kc_base_url: str) -> None:
    body = requests.get(f"{kc_base_url}/realms/{DEMO_REALM}", timeout=10).json()
    assert body["realm"] == DEMO_REALM
    assert body["public_key"].startswith("MII")
    assert body["token-service"].endswith(f"/realms/{DEMO_REALM}/protocol/openid-connect")
    assert body["tokens-not-before"] == 0


def test_jwks_keys_verify_token_signatures(kc_base_url: str) -> None:
    jwks = requests.get(
        f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/certs", timeout=10
    ).json()
    sig = [k for k in jwks["keys"] if k["use"] == "sig"]
    assert len(sig) == 1
    assert sig[0]["alg"] == "RS256" and sig[0]["kty"] == "RSA" and sig[0]["kid"]
    assert {"n", "e", "x5c", "x5t", "x5t#S256"} <= set(sig[0])
    assert any(k["use"] == "enc" and k["alg"] == "RSA-OAEP" for k in jwks["keys"])

    token = requests.post(
        f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(DEMO_CLIENT, DEMO_SECRET),
        timeout=10,
    ).json()["access_token"]
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.header["kid"] == sig[0]["kid"]
    assert decoded.header["typ"] == "JWT"
    assert decoded.claims["iss"] == f"{kc_base_url}/realms/{DEMO_REALM}"

    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    try:
        jwt.decode(tampered, KeySet.import_key_set(jwks), algorithms=["RS256"])
    except Exception as exc:  # joserfc raises BadSignatureError
        assert "signature" in type(exc).__name__.lower() or "signature" in str(exc).lower()
    else:
        raise AssertionError("a tampered token verified")


def test_each_realm_signs_with_its_own_key(kc_base_url: str) -> None:
    demo = requests.get(
        f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/certs", timeout=10
    )
    master = requests.get(f"{kc_base_url}/realms/master/protocol/openid-connect/certs", timeout=10)
    assert demo.json()["keys"][0]["kid"] != master.json()["keys"][0]["kid"]


def test_index_and_health(kc_base_url: str) -> None:
    assert requests.get(f"{kc_base_url}/health/ready", timeout=10).json()["status"] == "UP"
    assert DEMO_REALM in requests.get(f"{kc_base_url}/", timeout=10).text
