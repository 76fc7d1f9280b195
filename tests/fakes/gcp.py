"""Google Cloud test identities: throwaway service-account key files and the server side of their JWT grant.

    account = make_service_account(vertex.url + "/token", tmp_path / "sa.json")
    vertex.settings.register_service_account(account)
    # google.oauth2.service_account.Credentials.from_service_account_file(account.path, scopes=[...])
    # or GOOGLE_APPLICATION_CREDENTIALS=account.path for google.auth.default()

Keys are generated at test time (RSA-2048, ``cryptography``) and never committed.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always puts Google's own token endpoint in ``aud``, whatever the file's token_uri says;
# Google accepts that and its legacy spellings.
GOOGLE_TOKEN_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v4/token",
        "https://accounts.google.com/o/oauth2/token",
    }
)
# Google refuses assertions living longer than an hour.
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300


@dataclass(frozen=True)
class ServiceAccount:
    """A generated service account: where its key file is, and what the fake needs to trust it."""

    client_email: str
    public_key_pem: str
    private_key_id: str
    project_id: str
    token_uri: str
    path: Path


def make_service_account(
    token_uri: str, path: Path, *, project_id: str = "test-project", name: str = "gateway-test"
) -> ServiceAccount:
    """Write a fresh service-account JSON key file at ``path`` whose tokens come from ``token_uri``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    email = f"{name}-{secrets.token_hex(3)}@{project_id}.iam.gserviceaccount.com"
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": private_pem,
        "client_email": email,
        "client_id": str(10**20 + secrets.randbelow(9 * 10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{quote(email)}",
        "universe_domain": "googleapis.com",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return ServiceAccount(email, public_pem, key_id, project_id, token_uri, path)


class GrantError(Exception):
    """An OAuth error response: ``{"error": error, "error_description": description}`` with a 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_assertion(
    assertion: str,
    public_keys: dict[str, str],
    audiences: set[str] | frozenset[str],
    now: float | None = None,
) -> dict[str, Any]:
    """Check an RS256 JWT-bearer assertion as Google's token endpoint does; returns its claims."""
    bad_signature = GrantError("invalid_grant", "Invalid JWT Signature.")
    try:
        header_b64, claims_b64, signature_b64 = assertion.split(".")
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(claims_b64))
        signature = _b64decode(signature_b64)
    except ValueError:
        raise bad_signature from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
        raise bad_signature
    public_pem = public_keys.get(str(claims.get("iss")))
    if public_pem is None:
        raise GrantError("invalid_grant", "Invalid grant: account not found")
    public_key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(
            signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise bad_signature from None
    if claims.get("aud") not in audiences:
        raise GrantError(
            "invalid_grant",
            "Invalid JWT: Failed audience check. The right audience is https://oauth2.googleapis.com/token",
        )
    moment = time.time() if now is None else now
    issued, expires = claims.get("iat"), claims.get("exp")
    if (
        not isinstance(issued, int | float)
        or not isinstance(expires, int | float)
        or expires <= moment
        or issued > moment + CLOCK_SKEW
        or expires - issued > MAX_ASSERTION_LIFETIME
    ):
        raise GrantError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
            "Check your iat and exp values in the JWT claim.",
        )
    return claims
