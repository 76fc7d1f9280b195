"""Cloud credentials: Bedrock's SigV4 signatures, Vertex AI's OAuth access tokens, and Microsoft Entra ID
tokens for Azure OpenAI (`auth: entra-id`).

All come from maintained libraries: botocore signs (and resolves the AWS credential chain: env vars,
shared config/profile, SSO, container and instance roles), google-auth mints tokens from a service
account file or the Google default credentials, azure-identity from the gateway's Azure identity
(service principal env vars, workload or managed identity, Azure CLI). Their network and file I/O
runs in a thread, never on the event loop; a token is reused until `REFRESH_BEFORE` its expiry, and
one refresh at a time runs per credential, however many requests wait for it.

Which credential a call uses comes from `auth.upstream_auth`: a stored key (`key:<name>`) or, with no
stored key, the environment's (`ambient`). Everything is cached per (provider, key) and rebuilt when
the key's fields change (a reload with a new secret).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gateway.core.errors import GatewayError
from gateway.providers import azure_openai, bedrock, vertex
from gateway.routing.table import Provider, StoredKey

if TYPE_CHECKING:  # botocore is imported on first use: ~20 MiB a gateway without Bedrock never needs
    from botocore.credentials import ReadOnlyCredentials

REFRESH_BEFORE = 300.0  # seconds before a token's expiry when it is replaced
BIG_BODY = 1 << 20  # bytes; larger bodies are signed in a thread


class CloudCredentials:
    """Per-process cache of AWS credentials and bearer tokens (Google, Microsoft Entra ID)."""

    def __init__(self) -> None:
        self._aws: dict[tuple[str, ...], Any] = {}
        self._aws_chain = asyncio.Lock()  # concurrent first calls share one walk of the AWS chain
        self._tokens: dict[tuple[str, ...], _TokenSource] = {}

    async def authorize(
        self,
        provider: Provider,
        key: StoredKey | None,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, str]:
        """Headers with the call's signature (Bedrock) or bearer token (Vertex, Azure with Entra ID)."""
        if provider.type == "bedrock":
            creds = await self._aws_credentials(provider, key)
            region = provider.settings.region
            if len(body) > BIG_BODY:  # hashing megabytes of images or PDFs would stall the event loop
                return await asyncio.to_thread(sign_aws, creds, region, method, url, headers, body)
            return sign_aws(creds, region, method, url, headers, body)  # ~0.2 ms
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
            from botocore.credentials import Credentials as AWSCredentials

            if fields.get("access_key_id"):
                creds = AWSCredentials(
                    fields["access_key_id"], fields["secret_access_key"], fields.get("session_token") or None
                )
            else:
                async with self._aws_chain:
                    creds = self._aws.get(cache_key) or await asyncio.to_thread(_aws_chain)
                if creds is None:
                    raise GatewayError("authentication_error", _no_aws(provider))
            self._aws[cache_key] = creds
        refresh_needed = getattr(creds, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():  # temporary credentials about to end
            return await asyncio.to_thread(creds.get_frozen_credentials)
        return creds.get_frozen_credentials()

    # -- bearer tokens: Google (Vertex), Microsoft Entra ID (Azure OpenAI) -----------------------------------

    def _token_source(self, provider: Provider, key: StoredKey | None) -> _TokenSource:
        path = key.cloud.get("credentials_file", "") if key is not None else ""
        cache_key = (provider.name, provider.type, path)
        source = self._tokens.get(cache_key)
        if source is None:
            if provider.type == "azure-openai":
                source = _TokenSource(provider.name, "Microsoft Entra ID token", _azure_fetch)
            else:
                source = _TokenSource(
                    provider.name, "Google access token", _google_fetch(provider.name, path)
                )
            self._tokens[cache_key] = source
        return source


def sign_aws(
    creds: ReadOnlyCredentials, region: str, method: str, url: str, headers: Mapping[str, str], body: bytes
) -> dict[str, str]:
    """SigV4 over exactly what will be sent: method, URL, these headers and this body."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(creds, bedrock.SERVICE, region).add_auth(request)
    return dict(request.headers.items())


def _aws_chain() -> Any:
    """The AWS SDKs' default credential chain (env, profile, SSO, container, instance metadata)."""
    from botocore.session import Session

    return Session().get_credentials()


def _no_aws(provider: Provider) -> str:
    return (
        f"no AWS credentials for provider {provider.name!r}: add a stored key under `keys:` with "
        "access_key_id and secret_access_key (or a Bedrock API key as `secret`), or give the gateway "
        "AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)"
    )


class _TokenSource:
    """A bearer token from one identity, reused until `REFRESH_BEFORE` its expiry; one refresh at a time,
    in a thread (the identity libraries do blocking I/O)."""

    def __init__(self, provider: str, who: str, fetch: Callable[[], tuple[str, float]]) -> None:
        self.provider = provider
        self.who = who  # "Google access token", "Microsoft Entra ID token"
        self._fetch = fetch  # -> (token, expiry as a Unix time)
        self._token: str | None = None
        self._expires = 0.0
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
                fetched, self._expires = await asyncio.to_thread(self._fetch)
            except GatewayError:
                raise
            except Exception as exc:  # the libraries raise their own and their transports' errors
                raise GatewayError(
                    "authentication_error",
                    f"cannot get a {self.who} for provider {self.provider!r}: "
                    f"{type(exc).__name__}: {str(exc)[:300]}",
                    status=502,
                ) from None
            self._token = fetched
            return fetched

    def _fresh(self) -> str | None:
        if self._token is None or self._expires - REFRESH_BEFORE <= time.time():
            return None
        return self._token


def _google_fetch(provider: str, path: str) -> Callable[[], tuple[str, float]]:
    """A service account file's credentials, or Google's default credentials, loaded on first use."""
    loaded: list[Any] = []

    def fetch() -> tuple[str, float]:
        import google.auth
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        if not loaded:
            if path:
                try:
                    loaded.append(
                        service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                            path, scopes=list(vertex.SCOPES)
                        )
                    )
                except (OSError, ValueError) as exc:
                    raise GatewayError(
                        "authentication_error",
                        f"cannot read the service account file of provider {provider!r} "
                        f"({path}): {type(exc).__name__}",
                        status=502,
                    ) from None
            else:
                try:
                    loaded.append(google.auth.default(scopes=list(vertex.SCOPES))[0])
                except google.auth.exceptions.DefaultCredentialsError:
                    raise GatewayError(
                        "authentication_error",
                        f"no Google credentials for provider {provider!r}: add a stored key with "
                        "credentials_file (a service account JSON file), or give the gateway Google "
                        "default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth "
                        "application-default login, or a workload identity)",
                    ) from None
        credentials = loaded[0]
        credentials.refresh(Request())
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        expires = expiry.replace(tzinfo=dt.UTC).timestamp() if expiry is not None else time.time() + 3600
        return str(credentials.token), expires

    return fetch


def _azure_fetch() -> tuple[str, float]:
    """A Microsoft Entra ID token for Azure OpenAI from the gateway's Azure identity."""
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    try:
        token = credential.get_token(azure_openai.ENTRA_SCOPE)
    finally:
        credential.close()
    return token.token, float(token.expires_on)
