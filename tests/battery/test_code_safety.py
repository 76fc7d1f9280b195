"""S4/S5: the code and its dependencies. A static scan of gateway/ for what runs text as code or a
process, or loads untrusted data as objects (each allowed use named with its reason); the dashboard's
templates autoescape, and template syntax or HTML sent through every field a client controls that
reaches a page (metadata, model names, logged bodies, upstream error messages) renders as text; the
dependencies are installed with --require-hashes from locks that hash every pin; the package installs
no *.pth file of its own."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path
from typing import Any

import httpx
import orjson
from markupsafe import escape

from gateway.admin.dashboard.render import ENV
from tests.conftest import GatewayFactory, standard_config
from tests.fakes.upstream import FakeUpstream, Script

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gateway"

# Calls that run text as code, start processes or build objects from bytes.
BANNED_CALLS = {"eval", "exec", "compile", "__import__", "execfile", "input"}
BANNED_ATTRS = {
    ("os", "system"),
    ("os", "popen"),
    ("os", "execv"),
    ("os", "execve"),
    ("os", "execvp"),
    ("os", "spawnv"),
    ("os", "spawnl"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("yaml", "load_all"),
    ("jinja2", "Template"),
}
BANNED_MODULES = {
    "pickle",
    "cPickle",
    "marshal",
    "shelve",
    "subprocess",
    "dill",
    "cloudpickle",
    "pty",
    "code",
}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}
# (file relative to gateway/, what) -> why it is fine. Empty today: keep each entry justified.
ALLOWED: dict[tuple[str, str], str] = {
    ("config/prompts.py", ".from_string()"): "prompt templates: text from config (reviewed like code), "
    "compiled once in ImmutableSandboxedEnvironment; request variables are only ever values, never "
    "templates (tests/config/test_prompts.py, tests/dataplane/test_prompts.py)",
}


def findings(source: str, name: str) -> list[tuple[str, str]]:
    """(file, what) for each risky use in one module's source."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in BANNED_MODULES:
                    found.append((name, f"import {module}"))
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in BANNED_CALLS:
                found.append((name, f"{func.id}()"))
            if isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                if (owner, func.attr) in BANNED_ATTRS:
                    found.append((name, f"{owner}.{func.attr}()"))
                if func.attr == "from_string":  # a template built from text: SSTI if the text is data
                    found.append((name, ".from_string()"))
                if owner == "yaml" and func.attr == "load":
                    loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
                    if len(node.args) > 1:
                        loader = node.args[1]
                    loader_name = getattr(loader, "attr", getattr(loader, "id", None))
                    if loader_name not in SAFE_LOADERS:
                        found.append((name, "yaml.load() without SafeLoader"))
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    found.append((name, "shell=True"))
    return found


def test_static_scan_of_the_package() -> None:
    scanned = 0
    found: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        scanned += 1
        found += findings(path.read_text(), str(path.relative_to(PACKAGE)))
    unexplained = [f for f in found if f not in ALLOWED]
    assert not unexplained, unexplained
    assert scanned > 50
    stale = [f for f in ALLOWED if f not in found]
    assert not stale, f"allowlist entries for code that is gone: {stale}"


def test_the_scan_finds_what_it_looks_for() -> None:
    bad = """
import pickle, subprocess
from marshal import loads
import yaml
eval("1"); exec("x = 1"); __import__("os")
yaml.load(text); yaml.load(text, Loader=yaml.Loader); yaml.unsafe_load(text)
os.system("ls"); run(["ls"], shell=True)
env.from_string(user_text)
"""
    found = {what for _, what in findings(bad, "x.py")}
    assert found == {
        "import pickle",
        "import subprocess",
        "import marshal",
        "eval()",
        "exec()",
        "__import__()",
        "yaml.load() without SafeLoader",
        "yaml.unsafe_load()",
        "os.system()",
        "shell=True",
        ".from_string()",
    }
    fine = "import yaml\nyaml.load(t, Loader=yaml.SafeLoader)\nyaml.safe_load(t)\nrun(x, shell=False)\n"
    assert findings(fine, "ok.py") == []


MARK = '{{ "ssti" ~ "-" ~ "rendered" }}'
PAYLOADS = [
    MARK,
    "{{7*7}}",
    "{{config}}",
    "{{ ''.__class__.__mro__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{c}}{% endfor %}",
    "${7*7}",
    "<script>alert('xss')</script>",
    "</script><img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
]


def test_the_dashboard_autoescapes() -> None:
    assert ENV.autoescape is True
    rendered = ENV.from_string("{{ v }}").render(v="<b>")  # the environment's own behaviour
    assert rendered == "&lt;b&gt;"


def test_template_and_html_payloads_render_as_text(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream, figures: dict[str, Any]
) -> None:
    """Every field a client controls that a dashboard page shows: metadata keys and values, model names
    (an alias glob keeps them), logged request and response bodies, an upstream's error message."""
    gw = make_gateway(standard_config(anthropic_up, openai_up, "logs: { bodies: true }\n"))
    sent = 0
    for payload in PAYLOADS:
        metadata = orjson.dumps({"user": payload, "team": payload[:60]}).decode()
        anthropic_up.push(Script(text=payload))
        answer = httpx.post(
            gw.url + "/v1/messages",
            headers={"anthropic-version": "2023-06-01", "x-gateway-metadata": metadata},
            json={
                "model": "claude-" + payload,
                "max_tokens": 16,
                "messages": [{"role": "user", "content": payload}],
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        openai_up.push(Script(status=400, error_message=payload))
        httpx.post(
            gw.url + "/v1/chat/completions",
            json={"model": "gpt-x", "messages": [{"role": "user", "content": payload}]},
            timeout=10,
        )
        sent += 2
    records = gw.records(wait_for=sent)
    ids = [r["id"] for r in records]
    pages = ["/dashboard", "/dashboard/logs", "/dashboard/config", "/dashboard/models"]
    pages += [f"/dashboard/logs/{i}" for i in ids]
    pages += [
        "/dashboard/logs?" + str(httpx.QueryParams({"model": p, "metadata": f"user={p}"})) for p in PAYLOADS
    ]
    pages += ["/dashboard/models?" + str(httpx.QueryParams({"q": p, "provider": p})) for p in PAYLOADS]
    shown = 0
    for path in pages:
        page = httpx.get(gw.url + path, timeout=10)
        assert page.status_code == 200, (path, page.status_code)
        html = page.text
        assert "ssti-rendered" not in html, path
        assert "&lt;class" not in html and "<class" not in html, path
        assert "<Config" not in html and "&lt;Config" not in html, path
        for raw in ("<script>alert(", "<img src=x", "<svg onload"):
            assert raw not in html, (path, raw)
        if path.startswith("/dashboard/logs/"):
            shown += any(str(escape(p)) in html for p in PAYLOADS)
    # Each request's page shows its payload, escaped: else the checks above prove nothing.
    assert shown == len(ids)
    figures.update(requests=sent, pages=len(pages), payloads=len(PAYLOADS), failures=0)


def test_dependencies_are_installed_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and " -r " in line]
    assert installs, "the Makefile installs no requirements file"
    for line in installs:
        assert "--require-hashes" in line, line
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text()
        # One entry per pin: `name==version \` then its `--hash=sha256:...` lines.
        entries = re.split(r"\n(?=[A-Za-z0-9])", text)
        pins = [e for e in entries if re.match(r"[A-Za-z0-9][\w.\-\[\],]*==", e)]
        assert len(pins) > 20, lock
        unhashed = [e.splitlines()[0] for e in pins if not re.search(r"--hash=sha256:[0-9a-f]{64}", e)]
        assert not unhashed, (lock, unhashed)
        assert not re.search(r"^\s*(-e |git\+|https?://)", text, re.MULTILINE), f"{lock}: an unpinned source"


def test_starlette_is_recent_enough() -> None:
    """reliability.md S5: Starlette >= 1.3.0 (earlier releases have known request-parsing advisories)."""
    pinned = re.search(r"^starlette==([\d.]+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert pinned is not None
    assert tuple(int(p) for p in pinned.group(1).split(".")[:2]) >= (1, 3)
    installed = importlib.metadata.version("starlette")
    assert tuple(int(p) for p in installed.split(".")[:2]) >= (1, 3), installed


def test_the_package_installs_no_pth_file() -> None:
    """A *.pth file runs code at every interpreter start: the package ships none (an editable install's
    own path hook is pip's, not ours)."""
    dist = importlib.metadata.distribution("llm-gateway")
    pth = [str(f) for f in dist.files or () if str(f).endswith(".pth")]
    assert all(name.startswith("__editable__.") for name in pth), pth
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert ".pth" not in pyproject and "data-files" not in pyproject
