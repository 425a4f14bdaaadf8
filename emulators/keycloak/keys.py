"""Per-realm signing keys: an RS256 key (published in JWKS), an RSA-OAEP key, an HMAC secret."""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@dataclass
class RsaKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    cert_der: bytes
    use: str
    alg: str

    def jwk(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kid": self.kid,
            "kty": "RSA",
            "alg": self.alg,
            "use": self.use,
            "n": b64url(_int_bytes(numbers.n)),
            "e": b64url(_int_bytes(numbers.e)),
            "x5c": [base64.b64encode(self.cert_der).decode("ascii")],
            "x5t": b64url(hashlib.sha1(self.cert_der).digest()),  # noqa: S324 - JWK thumbprint
            "x5t#S256": b64url(hashlib.sha256(self.cert_der).digest()),
        }

    def public_key_b64(self) -> str:
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")


def _generate_rsa(realm_name: str, use: str, alg: str) -> RsaKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, realm_name or "realm")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    kid = b64url(hashlib.sha256(cert_der).digest())[:43]
    return RsaKey(kid=kid, private_key=key, cert_der=cert_der, use=use, alg=alg)


@dataclass
class RealmKeys:
    realm_name: str
    _signing: RsaKey | None = None
    _encryption: RsaKey | None = None
    hmac_secret: bytes = field(default_factory=lambda: secrets.token_bytes(64))
    hmac_kid: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def signing(self) -> RsaKey:
        if self._signing is None:
            self._signing = _generate_rsa(self.realm_name, "sig", "RS256")
        return self._signing

    @property
    def encryption(self) -> RsaKey:
        if self._encryption is None:
            self._encryption = _generate_rsa(self.realm_name, "enc", "RSA-OAEP")
        return self._encryption

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.signing.jwk(), self.encryption.jwk()]}
