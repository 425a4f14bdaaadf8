"""A minimal scripted browser over real HTTP: follows redirects, keeps cookies per host, and
submits the HTML forms Keycloak's (and the emulator's) login pages show."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urljoin

import requests

FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
ATTR = re.compile(r'([a-zA-Z_:.-]+)\s*=\s*"([^"]*)"')
INPUT = re.compile(r"<(?:input|button)\b[^>]*>", re.S | re.I)


def forms(page: requests.Response) -> list[dict[str, Any]]:
    found = []
    for block in FORM.findall(page.text):
        opening = block[: block.index(">") + 1]
        attrs = {k.lower(): html.unescape(v) for k, v in ATTR.findall(opening)}
        fields = {}
        for tag in INPUT.findall(block):
            a = {k.lower(): html.unescape(v) for k, v in ATTR.findall(tag)}
            if (
                "name" in a
                and a.get("type", "").lower() in {"hidden", ""}
                and tag.startswith("<input")
            ):
                fields[a["name"]] = a.get("value", "")
        found.append(
            {
                "id": attrs.get("id", ""),
                "action": urljoin(page.url, attrs.get("action", page.url)),
                "method": attrs.get("method", "get").lower(),
                "fields": fields,
            }
        )
    return found


class Browser:
    def __init__(self) -> None:
        self.http = requests.Session()

    def get(self, url: str, **kw: Any) -> requests.Response:
        return self.http.get(url, timeout=15, **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self.http.post(url, timeout=15, **kw)

    def submit(
        self, page: requests.Response, form_id: str | None = None, **data: str
    ) -> requests.Response:
        candidates = forms(page)
        form = next((f for f in candidates if form_id is None or f["id"] == form_id), None)
        assert form is not None, f"no form {form_id!r} on {page.url}:\n{page.text[:2000]}"
        return self.post(form["action"], data={**form["fields"], **data})

    def keycloak_login(
        self, start: requests.Response, username: str, password: str = "demo"
    ) -> requests.Response:
        """Drive the identity-first login from its first page to wherever Keycloak sends us back."""
        page = self.submit(start, "kc-form-login", username=username)
        if any(f["id"] == "kc-idp-form" for f in forms(page)):
            return self.submit(page, "kc-idp-form")  # the organization's identity provider
        return self.submit(page, "kc-form-login", password=password)

    def csrf_token(self, page_url: str) -> str:
        text = self.get(page_url).text
        match = re.search(r'name="csrf_token" value="([^"]+)"', text)
        assert match, f"no CSRF token on {page_url}"
        return match.group(1)
