"""Cloud credentials for Bedrock (SigV4 signatures) and Vertex AI (OAuth access tokens).

Both come from maintained libraries: botocore signs (and resolves the AWS credential chain: env vars,
shared config/profile, SSO, container and instance roles), google-auth mints tokens from a service
account file or the Google default credentials. Their network and file I/O runs in a thread, never on
the event loop; an access token is reused until `REFRESH_BEFORE` of its expiry, and one refresh at a
time runs per credential, however many requests wait for it.

Which credential a call uses comes from `auth.upstream_auth`: a stored key (`key:<name>`) or, with no
stored key, the environment's (`ambient`). Everything is cached per (provider, key) and rebuilt when
the key's fields change (a reload with a new secret).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AWSCredentials
from botocore.credentials import ReadOnlyCredentials
from botocore.session import Session as BotocoreSession

from gateway.errors import GatewayError
from gateway.providers import bedrock, vertex
from gateway.table import Provider, StoredKey

REFRESH_BEFORE = dt.timedelta(minutes=5)


class CloudCredentials:
    """Per-process cache of AWS credentials and Google access tokens."""

    def __init__(self) -> None:
        self._aws: dict[tuple[str, ...], Any] = {}
        self._google: dict[tuple[str, ...], _TokenSource] = {}

    async def authorize(
        self,
        provider: Provider,
        key: StoredKey | None,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, str]:
        """Headers with the call's signature (Bedrock) or access token (Vertex) added."""
        if provider.type == "bedrock":
            creds = await self._aws_credentials(provider, key)
            return sign_aws(creds, str(provider.options.get("region", "")), method, url, headers, body)
        token = await self._token_source(provider, key).token()
        return {**headers, "authorization": f"Bearer {token}"}

    # -- AWS ------------------------------------------------------------------------------------------------

    async def _aws_credentials(self, provider: Provider, key: StoredKey | None) -> ReadOnlyCredentials:
        fields = dict(key.cloud) if key is not None else {}
        cache_key = (
            provider.name,
            *(fields.get(f, "") for f in ("access_key_id", "secret_access_key", "session_token")),
        )
        creds = self._aws.get(cache_key)
        if creds is None:
            if fields.get("access_key_id"):
                creds = AWSCredentials(
                    fields["access_key_id"], fields["secret_access_key"], fields.get("session_token") or None
                )
            else:
                creds = await asyncio.to_thread(_aws_chain)
                if creds is None:
                    raise GatewayError("authentication_error", _no_aws(provider))
            self._aws[cache_key] = creds
        refresh_needed = getattr(creds, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():  # temporary credentials about to end
            return await asyncio.to_thread(creds.get_frozen_credentials)
        return creds.get_frozen_credentials()

    # -- Google ---------------------------------------------------------------------------------------------

    def _token_source(self, provider: Provider, key: StoredKey | None) -> _TokenSource:
        path = key.cloud.get("credentials_file", "") if key is not None else ""
        cache_key = (provider.name, path)
        source = self._google.get(cache_key)
        if source is None:
            source = self._google[cache_key] = _TokenSource(provider.name, path)
        return source


def sign_aws(
    creds: ReadOnlyCredentials, region: str, method: str, url: str, headers: Mapping[str, str], body: bytes
) -> dict[str, str]:
    """SigV4 over exactly what will be sent: method, URL, these headers and this body."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(creds, bedrock.SERVICE, region).add_auth(request)
    return dict(request.headers.items())


def _aws_chain() -> Any:
    """The AWS SDKs' default credential chain (env, profile, SSO, container, instance metadata)."""
    return BotocoreSession().get_credentials()


def _no_aws(provider: Provider) -> str:
    return (
        f"no AWS credentials for provider {provider.name!r}: add a stored key under `keys:` with "
        "access_key_id and secret_access_key (or a Bedrock API key as `secret`), or give the gateway "
        "AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)"
    )


class _TokenSource:
    """An OAuth access token for one Google credential, refreshed before it expires."""

    def __init__(self, provider: str, path: str) -> None:
        self.provider = provider
        self.path = path
        self._credentials: Any = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:  # one refresh; the others wait for it and reuse its token
            token = self._fresh()
            if token is not None:
                return token
            try:
                await asyncio.to_thread(self._refresh)
            except GatewayError:
                raise
            except Exception as exc:  # google-auth raises its own and requests' errors
                raise GatewayError(
                    "authentication_error",
                    f"cannot get a Google access token for provider {self.provider!r}: "
                    f"{type(exc).__name__}: {str(exc)[:300]}",
                    status=502,
                ) from None
            token = self._credentials.token
            assert isinstance(token, str)
            return token

    def _fresh(self) -> str | None:
        creds = self._credentials
        if creds is None or not creds.token:
            return None
        expiry = creds.expiry  # naive UTC, as google-auth keeps it
        if expiry is not None and expiry - REFRESH_BEFORE <= dt.datetime.now(dt.UTC).replace(tzinfo=None):
            return None
        token: str = creds.token
        return token

    def _refresh(self) -> None:
        """In a thread: load the credential once, then ask its token endpoint for a new token."""
        import google.auth
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        if self._credentials is None:
            if self.path:
                try:
                    self._credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                        self.path, scopes=list(vertex.SCOPES)
                    )
                except (OSError, ValueError) as exc:
                    raise GatewayError(
                        "authentication_error",
                        f"cannot read the service account file of provider {self.provider!r} "
                        f"({self.path}): {type(exc).__name__}",
                        status=502,
                    ) from None
            else:
                try:
                    self._credentials, _ = google.auth.default(scopes=list(vertex.SCOPES))
                except google.auth.exceptions.DefaultCredentialsError:
                    raise GatewayError(
                        "authentication_error",
                        f"no Google credentials for provider {self.provider!r}: add a stored key with "
                        "credentials_file (a service account JSON file), or give the gateway Google "
                        "default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth "
                        "application-default login, or a workload identity)",
                    ) from None
        self._credentials.refresh(Request())
