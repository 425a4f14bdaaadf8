"""The tests' own view of the emulators, as an operator would check Open edX and Keycloak: what a
test asserts about the other side reads it through these, never through the portal's clients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ROOT

SOURCE = "course-v1:B2B_SOURCE+DS.101x+SOURCE"  # the emulator's source run of the demo courses
DEMO_REALM = ROOT / "emulators" / "keycloak" / "realms" / "demo-realm.json"


def realm_for(portal_url: str, target: Path) -> Path:
    """The demo realm, with the portal's test address registered as redirect URI."""
    realm = json.loads(DEMO_REALM.read_text())
    for client in realm["clients"]:
        if client["clientId"] == "b2b-portal":
            client["redirectUris"] = [f"{portal_url}/*"]
            client.setdefault("attributes", {})["post.logout.redirect.uris"] = f"{portal_url}/*"
    target.write_text(json.dumps(realm))
    return target


class Edx:
    """The Open edX emulator at ``url``, with a token of the portal's own OAuth client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.token = requests.post(
            f"{url}/oauth2/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": "b2b-portal",
                "client_secret": "demo-edx-secret",
                "token_type": "jwt",
            },
            timeout=10,
        ).json()["access_token"]
        self.headers = {"Authorization": f"JWT {self.token}"}

    # -- Studio: runs and their modes

    def clone(self, key: str, modes: tuple[str, ...] = ("audit", "verified")) -> str:
        """A new run in Studio (as the contract-run job makes them) with these modes."""
        r = requests.post(
            f"{self.url}/api/v1/course_runs/clone/",
            json={"source_course_id": SOURCE, "destination_course_id": key},
            headers=self.headers,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        for slug in modes:
            self.add_mode(key, slug)
        return key

    def add_mode(self, key: str, slug: str) -> None:
        r = requests.post(
            f"{self.url}/api/course_modes/v1/courses/{key}/",
            json={
                "course_id": key,
                "mode_slug": slug,
                "mode_display_name": slug.capitalize(),
                "min_price": 0 if slug == "audit" else 49,
                "currency": "usd",
            },
            headers=self.headers,
            timeout=10,
        )
        assert r.status_code == 201, r.text

    def run(self, key: str) -> dict[str, Any] | None:
        """Studio's view of a run, or None when it has none with this key."""
        r = requests.get(f"{self.url}/api/v1/course_runs/{key}/", headers=self.headers, timeout=10)
        return r.json() if r.status_code == 200 else None

    def modes(self, key: str) -> set[str]:
        r = requests.get(
            f"{self.url}/api/course_modes/v1/courses/{key}/", headers=self.headers, timeout=10
        )
        return {m["mode_slug"] for m in r.json()}

    # -- the LMS: learners and enrollments

    def enrollment(self, username: str, key: str) -> dict[str, Any] | None:
        r = requests.get(
            f"{self.url}/api/enrollment/v1/enrollment/{username},{key}",
            headers=self.headers,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        found: dict[str, Any] | None = r.json()
        return found

    def state(self) -> dict[str, Any]:
        """Everything the emulator holds: runs, users, enrollments."""
        state: dict[str, Any] = requests.get(f"{self.url}/__emulator__/state", timeout=10).json()
        return state

    def learners(self) -> list[dict[str, Any]]:
        return [u for u in self.state()["users"] if not u["is_staff"]]

    def enrollments_of(self, email: str) -> list[dict[str, Any]]:
        """Every enrollment edX holds for the learner with this email, active or not."""
        state = self.state()
        usernames = {u["username"] for u in state["users"] if u["email"] == email}
        return [e for e in state["enrollments"] if e["user"] in usernames]

    def register(self, username: str, email: str) -> None:
        r = requests.post(
            f"{self.url}/user_api/v1/account/registration/",
            data={
                "username": username,
                "email": email,
                "name": "Made Elsewhere",
                "password": "a-long-password-1",
                "honor_code": "true",
            },
            timeout=10,
        )
        assert r.status_code == 200, r.text

    # -- outcomes: the emulator's test controls (not edX paths)

    def control(self, what: str, body: Any) -> dict[str, Any]:
        """``POST /__emulator__/{what}`` (grades, progress, certificates, bulk_learners)."""
        r = requests.post(f"{self.url}/__emulator__/{what}", json=body, timeout=60)
        assert r.status_code == 201, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def features(self, **flags: bool) -> None:
        r = requests.patch(f"{self.url}/__emulator__/features", json=flags, timeout=10)
        assert r.status_code == 200, r.text

    # -- faults the emulator plays

    def fault(self, **spec: Any) -> None:
        r = requests.post(f"{self.url}/__emulator__/faults", json=spec, timeout=10)
        assert r.status_code == 201, r.text

    def faults_left(self) -> int:
        return len(requests.get(f"{self.url}/__emulator__/faults", timeout=10).json()["faults"])

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/__emulator__/faults", timeout=10)


class KeycloakAdminApi:
    """The Keycloak emulator's admin API at ``base``, signed in as the master realm's admin."""

    def __init__(self, base: str) -> None:
        self.base = base
        token = requests.post(
            f"{base}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": "admin",
            },
            timeout=10,
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(
            f"{self.base}/admin/realms/b2b-demo/{path}",
            headers=self.headers,
            params=params,
            timeout=10,
        )
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(
            f"{self.base}/admin/realms/b2b-demo/{path}", headers=self.headers, json=body, timeout=10
        )

    def user_id(self, email: str) -> str:
        return str(self.get("users", email=email, exact="true")[0]["id"])

    def member_emails(self, org_id: str) -> set[str]:
        return {m["email"] for m in self.get(f"organizations/{org_id}/members", max=-1)}


__all__ = ["DEMO_REALM", "SOURCE", "Edx", "KeycloakAdminApi", "realm_for"]
