"""Who is calling: gateway tokens (constant-time) and the client's own provider key."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from gateway.core.errors import GatewayError
from gateway.providers.base import ProviderType
from gateway.routing.table import EMPTY, Gateway, Leaf, RoutingTable, StoredKey, Token

AMBIENT = "ambient"  # the auth label of a cloud call made with the gateway's own environment credentials
# Where a gateway token may come, in order; cf-aig-authorization is Cloudflare AI Gateway's name for it.
TOKEN_HEADERS = (b"x-gateway-key", b"cf-aig-authorization", b"authorization", b"x-api-key")
# Where a client's own provider key may come, in order; api-key is Azure OpenAI's header.
CLIENT_KEY_HEADERS = (b"x-api-key", b"authorization", b"api-key")


@dataclass(frozen=True, slots=True)
class Caller:
    token: Token | None
    # The client's own provider credential: (header it came in, value).
    client_key: tuple[bytes, bytes] | None

    @property
    def metadata(self) -> object:
        return self.token.metadata if self.token else EMPTY


def _credential(headers: dict[bytes, bytes], name: bytes) -> bytes | None:
    value = headers.get(name)
    if not value:
        return None
    if name == b"authorization":
        scheme, _, rest = value.partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        value = rest.strip()
    elif name == b"cf-aig-authorization" and value[:7].lower() == b"bearer ":
        value = value[7:].strip()
    return value or None


def _match_token(tokens: tuple[Token, ...], presented: bytes) -> Token | None:
    digest = hashlib.sha256(presented).digest()
    found = None
    for token in tokens:  # every token compared, no early exit: timing says nothing about which matched
        if hmac.compare_digest(token.digest, digest):
            found = token
    return found


def authenticate(gateway: Gateway, headers: dict[bytes, bytes]) -> Caller:
    if gateway.auth == "none":
        for name in CLIENT_KEY_HEADERS:
            value = _credential(headers, name)
            if value is not None:
                return Caller(None, (name, value))
        return Caller(None, None)

    token = None
    token_header = None
    presented_any = False
    for name in TOKEN_HEADERS:
        value = _credential(headers, name)
        if value is None:
            continue
        presented_any = True
        token = _match_token(gateway.tokens, value)
        if token is not None:
            token_header = name
            break
    if token is None:
        where = "x-gateway-key (or cf-aig-authorization), Authorization: Bearer or x-api-key"
        if presented_any:
            raise GatewayError("authentication_error", f"invalid gateway token for gateway {gateway.name!r}")
        raise GatewayError(
            "authentication_error",
            f"gateway {gateway.name!r} requires a gateway token: send it in {where}",
        )
    client_key = None
    for name in CLIENT_KEY_HEADERS:
        if name != token_header:
            value = _credential(headers, name)
            if value is not None:
                client_key = (name, value)
                break
    return Caller(token, client_key)


def upstream_auth(
    table: RoutingTable, gateway: Gateway, leaf: Leaf, caller: Caller, ptype: ProviderType
) -> tuple[list[tuple[bytes, bytes]], str]:
    """Auth headers for the upstream call and a label for the log ('key:<name>' or 'request')."""
    provider = table.providers.get(leaf.provider)
    for source in gateway.provider_keys:
        if source == "stored":
            if leaf.key is not None:
                stored = table.keys.get(leaf.key)
                if stored is not None and stored.available:
                    return _stored_headers(ptype, stored), f"key:{stored.name}"
                continue
            for stored in table.keys_by_provider.get(leaf.provider, ()):
                if stored.available:
                    return _stored_headers(ptype, stored), f"key:{stored.name}"
            if provider is not None and ptype.minted(provider):
                # No stored key, or only empty ones (`${AWS_ACCESS_KEY_ID:-}` unset on an instance with a
                # role): the gateway's own cloud identity (AWS chain, Google credentials, Entra ID).
                return [], AMBIENT
        elif source == "request" and caller.client_key is not None:
            return ptype.client_auth_headers(*caller.client_key), "request"
    if provider is not None and not ptype.needs_key:  # a local server (ollama, vllm, ...)
        return [], "none"
    raise GatewayError("authentication_error", _missing_key_message(table, gateway, leaf, ptype))


def _stored_headers(ptype: ProviderType, stored: StoredKey) -> list[tuple[bytes, bytes]]:
    """An API key is sent as the provider wants it; cloud credentials (no `secret`) sign the call or mint
    its token later, once the body is final (`providers.credentials`)."""
    return ptype.auth_headers(stored.secret) if stored.secret else []


def stored_key(table: RoutingTable, label: str) -> StoredKey | None:
    """The stored key an `upstream_auth` label names (`key:<name>`), if any."""
    return table.keys.get(label[4:]) if label.startswith("key:") else None


def _missing_key_message(table: RoutingTable, gateway: Gateway, leaf: Leaf, ptype: ProviderType) -> str:
    fixes: list[str] = []
    if "stored" in gateway.provider_keys:
        named = table.keys.get(leaf.key) if leaf.key else None
        keys = (named,) if named else table.keys_by_provider.get(leaf.provider, ())
        for key in keys:
            env = " or ".join(key.env_vars)
            how = f"set {env}" if env else "give it a secret"
            fixes.append(f"{how} (stored key {key.name!r} at {key.location})")
        if not keys:
            fixes.append(f"add a stored key under `keys:` with provider: {leaf.provider}")
    if "request" in gateway.provider_keys:
        fixes.append(f"send your own {ptype.display} key in {ptype.client_key_hint}")
    return f"no key available for provider {leaf.provider!r} on gateway {gateway.name!r}: " + "; or ".join(
        fixes
    )
