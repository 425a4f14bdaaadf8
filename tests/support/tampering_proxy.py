"""A WSGI proxy in front of the Keycloak emulator that forges what a hostile or broken identity
provider could send, so the portal's callback checks are tested over real HTTP.

It forwards every request unchanged (keeping the Host header, so the emulator's URLs point at the
proxy), publishes its own signing key next to the emulator's in the JWKS, and re-signs the ID token
from the token endpoint after applying the current ``mode``:

* ``pass``: re-signed with the proxy's published key, claims unchanged (must be accepted)
* ``bad_signature``: signed with a key nobody published
* ``wrong_issuer`` / ``wrong_audience`` / ``expired`` / ``wrong_nonce``: that claim forged
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Request, Response

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


class TamperingProxy:
    def __init__(self, upstream_url: str) -> None:
        self.upstream = upstream_url.rstrip("/")
        self.mode = "pass"
        self.published = RSAKey.generate_key(
            2048, parameters={"kid": "proxy-key", "use": "sig", "alg": "RS256"}
        )
        self.rogue = RSAKey.generate_key(2048, parameters={"kid": "proxy-key"})
        self.forged = 0

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        upstream = requests.request(
            request.method,
            self.upstream + request.full_path.rstrip("?"),
            headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"},
            data=request.get_data(),
            allow_redirects=False,
            timeout=15,
        )
        body = upstream.content
        if request.path.endswith("/protocol/openid-connect/certs") and upstream.ok:
            keys = json.loads(body)
            keys["keys"].append(self.published.as_dict(private=False))
            body = json.dumps(keys).encode()
        elif request.path.endswith("/protocol/openid-connect/token") and upstream.ok:
            token = json.loads(body)
            if "id_token" in token:
                token["id_token"] = self._forge(token["id_token"])
                body = json.dumps(token).encode()
        headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        return Response(body, status=upstream.status_code, headers=headers)(environ, start_response)

    def _forge(self, id_token: str) -> str:
        claims = _claims(id_token)  # the emulator signed it; the proxy only reads it
        now = int(time.time())
        if self.mode == "wrong_issuer":
            claims["iss"] = "http://127.0.0.1:9/realms/b2b-demo"
        elif self.mode == "wrong_audience":
            claims["aud"] = "someone-else"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-we-sent"
        key = self.rogue if self.mode == "bad_signature" else self.published
        self.forged += 1
        return jwt.encode({"alg": "RS256", "kid": "proxy-key", "typ": "JWT"}, claims, key)


def _claims(token: str) -> dict[str, Any]:
    import base64

    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return dict(json.loads(base64.urlsafe_b64decode(payload)))
