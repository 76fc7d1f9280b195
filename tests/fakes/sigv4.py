"""Server-side AWS Signature Version 4 verification, computed by botocore itself.

AWS recomputes the signature from what arrived: the method, the raw (still percent-encoded) path and
query, the headers the client named in ``SignedHeaders`` and the body, signed with the secret of the
access key named in the credential scope at the time in ``X-Amz-Date``. So does ``verify``, with
``botocore.auth.SigV4Auth`` doing the canonicalisation, so a gateway's signer is checked against
AWS's own reference implementation.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from multidict import CIMultiDictProxy

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
# How far X-Amz-Date may be from the server's clock.
MAX_SKEW = datetime.timedelta(minutes=5)
_AUTH = re.compile(
    r"^(?P<algorithm>\S+)\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


@dataclass(frozen=True)
class Credential:
    """What AWS knows about one access key id."""

    secret_key: str
    session_token: str | None = None


class AuthFailure(Exception):
    """A refused signature: the exception name AWS reports (x-amzn-ErrorType) and its message."""

    def __init__(self, error_type: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


class _Verifier(SigV4Auth):
    # botocore drops a few headers (user-agent, expect...) when *choosing* what to sign; a verifier
    # must use exactly the list the client signed, which is all the request here carries.
    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


def verify(
    *,
    method: str,
    raw_path: str,
    headers: CIMultiDictProxy[str],
    body: bytes,
    lookup: Callable[[str], Credential | None],
    region: str,
    service: str,
    now: datetime.datetime | None = None,
) -> str:
    """Check a SigV4-signed request; returns the access key id or raises AuthFailure."""
    authorization = headers.get("Authorization", "")
    match = _AUTH.match(authorization)
    if match is None:
        raise AuthFailure(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
            f"Authorization={authorization}",
        )
    if match["algorithm"] != "AWS4-HMAC-SHA256":
        raise AuthFailure(
            "IncompleteSignatureException", f"Unsupported AWS 'algorithm': '{match['algorithm']}'"
        )
    scope = match["credential"].split("/")
    if len(scope) != 5:
        raise AuthFailure(
            "IncompleteSignatureException",
            f"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{match['credential']}'",
        )
    access_key, scope_date, scope_region, scope_service, terminator = scope
    signed = match["signed"].split(";")
    amz_date = headers.get("X-Amz-Date")
    if amz_date is None:
        raise AuthFailure(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            f"Authorization={authorization}",
        )
    if "host" not in signed:
        raise AuthFailure(
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )
    if "x-amz-date" not in signed:
        raise AuthFailure(
            "InvalidSignatureException", "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
        )
    try:
        signed_at = datetime.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise AuthFailure(
            "IncompleteSignatureException",
            f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See "
            "http://en.wikipedia.org/wiki/ISO_8601",
        ) from None
    if terminator != "aws4_request":
        raise AuthFailure(
            "InvalidSignatureException",
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. ",
        )
    if scope_date != amz_date[:8]:
        raise AuthFailure(
            "InvalidSignatureException",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )
    if scope_region != region:
        raise AuthFailure(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{scope_region}'. ",
        )
    if scope_service != service:
        raise AuthFailure(
            "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'. "
        )
    _check_clock(signed_at, now or datetime.datetime.now(datetime.UTC))

    credential = lookup(access_key)
    if credential is None:
        raise AuthFailure("UnrecognizedClientException", INVALID_TOKEN)
    if headers.get("X-Amz-Security-Token") != credential.session_token:
        raise AuthFailure("UnrecognizedClientException", INVALID_TOKEN)
    content_sha = headers.get("X-Amz-Content-SHA256")
    if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
        raise AuthFailure(
            "InvalidSignatureException",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )

    expected = _signature(
        method, raw_path, headers, signed, body, amz_date, credential, access_key, region, service
    )
    if not hmac.compare_digest(expected, match["signature"].lower()):
        raise AuthFailure("InvalidSignatureException", SIGNATURE_MISMATCH)
    return access_key


def _check_clock(signed_at: datetime.datetime, now: datetime.datetime) -> None:
    def stamp(moment: datetime.datetime) -> str:
        return moment.strftime(SIGV4_TIMESTAMP)

    if signed_at < now - MAX_SKEW:
        raise AuthFailure(
            "InvalidSignatureException",
            f"Signature expired: {stamp(signed_at)} is now earlier than {stamp(now - MAX_SKEW)} "
            f"({stamp(now)} - 5 min.)",
        )
    if signed_at > now + MAX_SKEW:
        raise AuthFailure(
            "InvalidSignatureException",
            f"Signature not yet current: {stamp(signed_at)} is still later than {stamp(now + MAX_SKEW)} "
            f"({stamp(now)} + 5 min.)",
        )


def _signature(
    method: str,
    raw_path: str,
    headers: CIMultiDictProxy[str],
    signed: list[str],
    body: bytes,
    amz_date: str,
    credential: Credential,
    access_key: str,
    region: str,
    service: str,
) -> str:
    # The URL as it arrived: botocore re-encodes the raw path once more for the canonical request,
    # exactly as AWS does for every service but S3.
    request = AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{raw_path}", data=body)
    for name in signed:
        for value in headers.getall(name, []):
            request.headers[name] = value
    request.context["timestamp"] = amz_date
    signer = _Verifier(
        Credentials(access_key, credential.secret_key, credential.session_token), service, region
    )
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))
