"""Admin paths are matched by their first segment: a provider whose name merely starts like an admin
path (`apis`, `metrics-eu`, `healthz2`, `dashboards`) keeps its passthrough, while `/api/...`,
`/metrics` and `/dashboard` still reach the admin app behind its guard. Reserved names are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.admin.paths import Area, area
from gateway.config.compiler import RESERVED_PATH_NAMES, RESERVED_PROVIDER_NAMES, compile_config
from gateway.config.issues import ConfigError
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script

# design/http.md: "Provider names `v1`, `g`, `api`, `dashboard`, `metrics`, `healthz`, `readyz`,
# `compat`, `openapi.json` are reserved; any other name, `apis` or `metrics-eu` included, is a
# provider's passthrough prefix."
CONTRACT_RESERVED = {"v1", "g", "api", "dashboard", "metrics", "healthz", "readyz", "compat", "openapi.json"}
LOOKALIKES = ("apis", "metrics-eu", "healthz2", "dashboards")
ADMIN_TOKEN = "adm-paths-5521"
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/healthz", Area.OPEN),
        ("/readyz", Area.OPEN),
        ("/api", Area.API),
        ("/api/", Area.API),
        ("/api/logs/abc", Area.API),
        ("/metrics", Area.API),
        ("/metrics/", Area.API),
        ("/dashboard", Area.DASHBOARD),
        ("/dashboard/logs/x", Area.DASHBOARD),
        ("/dashboard/config", Area.DASHBOARD),
        ("/dashboard/login", Area.DASHBOARD_PUBLIC),
        ("/dashboard/logout", Area.DASHBOARD_PUBLIC),
        ("/dashboard/static/dashboard.css", Area.DASHBOARD_PUBLIC),
        ("/dashboard/loginx", Area.DASHBOARD),
        ("/apis/v1/messages", None),
        ("/metrics-eu/x", None),
        ("/healthz2", None),
        ("/readyz-now", None),
        ("/dashboards/x", None),
        ("/v1/messages", None),
        ("/anthropic/v1/messages", None),
        ("//api/config", None),
        ("/", None),
        ("", None),
    ],
)
def test_the_first_segment_decides(path: str, expected: Area | None) -> None:
    assert area(path) is expected


def test_lookalike_provider_names_keep_their_passthrough(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    lookalikes = "".join(
        f'  {name}: {{ type: anthropic, base_url: "{anthropic_up.base_url}" }}\n' for name in LOOKALIKES
    )
    config = standard_config(anthropic_up, openai_up, f"server: {{ admin_token: {ADMIN_TOKEN} }}\n")
    gw = make_gateway(config.replace("providers:\n", "providers:\n" + lookalikes, 1))
    ask = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": "client-key", "anthropic-version": "2023-06-01"}
    for name in LOOKALIKES:
        anthropic_up.push(Script(text=f"hello from {name}"))
        answer = httpx.post(f"{gw.url}/{name}/v1/messages", json=ask, headers=headers)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers["x-gateway-provider"] == name
        assert answer.json()["content"][0]["text"] == f"hello from {name}"
        assert anthropic_up.requests[-1].path == "/v1/messages"
    assert len(anthropic_up.requests) == len(LOOKALIKES)
    # A look-alike that is no provider is the data plane's 404, not the admin app's.
    missing = httpx.post(gw.url + "/apiary/v1/messages", json=ask, headers=headers)
    assert missing.status_code == 404 and missing.json()["type"] == "error"
    assert len(anthropic_up.requests) == len(LOOKALIKES)

    # The admin paths themselves still reach the admin app, guarded.
    assert httpx.get(gw.url + "/healthz").status_code == 200
    assert httpx.get(gw.url + "/readyz").status_code == 200
    for path in ("/api/config", "/metrics"):
        refused = httpx.get(gw.url + path)
        assert refused.status_code == 401 and "admin_token" in refused.json()["error"], path
        assert httpx.get(gw.url + path, headers={"authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(gw.url + path, headers=AUTH).status_code == 200, path
    assert set(httpx.get(gw.url + "/api/config", headers=AUTH).json()["providers"]) >= set(LOOKALIKES)
    login = httpx.get(gw.url + "/dashboard")
    assert login.status_code == 303 and login.headers["location"].startswith("/dashboard/login")
    assert httpx.get(gw.url + "/dashboard", headers=AUTH).status_code == 200
    assert httpx.get(gw.url + "/dashboard/static/dashboard.css").status_code == 200


def test_reserved_names_are_the_contracts() -> None:
    assert RESERVED_PATH_NAMES == CONTRACT_RESERVED
    # `dynamic/<route>` names a route, so a provider `dynamic` could not be reached by model name.
    only_by_model = RESERVED_PROVIDER_NAMES - RESERVED_PATH_NAMES
    assert only_by_model == {"dynamic"}


@pytest.mark.parametrize("name", sorted(RESERVED_PROVIDER_NAMES))
def test_a_reserved_provider_name_is_a_config_error_naming_file_and_line(tmp_path: Path, name: str) -> None:
    (tmp_path / "a.yaml").write_text("version: 1\nproviders:\n  anthropic: { type: anthropic }\n")
    (tmp_path / "b.yaml").write_text(f'providers:\n  "{name}": {{ type: openai }}\n')
    with pytest.raises(ConfigError) as info:
        compile_config(tmp_path, {})
    messages = [str(issue) for issue in info.value.errors]
    expected = f"b.yaml:2:3: providers.{name}: provider name {name!r} is reserved"
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize("name", LOOKALIKES)
def test_a_lookalike_provider_name_compiles(tmp_path: Path, name: str) -> None:
    (tmp_path / "a.yaml").write_text(f"version: 1\nproviders:\n  {name}: {{ type: anthropic }}\n")
    assert name in compile_config(tmp_path, {}).providers
