"""HTML rendering: one Jinja environment over the package's own templates (autoescaped; request data is
only ever a value passed to a template, never compiled as one), display filters and response headers."""

from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

# Templates and static files are package data (pyproject's package-data lists them), read as resources of
# this package so an installed wheel serves them as the source tree does.
PACKAGE = "gateway.admin.dashboard"
TEMPLATES = "templates"
STATIC = "static"
DASH = "\u2013"  # an en dash: what an absent value shows as

# Only the gateway's own files: no inline script or style, so injected markup could not run anyway.
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",  # pages hold request logs
}


def number(value: Any) -> str:
    return DASH if value is None else f"{value:,}"


def compact(value: Any) -> str:
    """12,345 -> 12.3k: card-sized."""
    if value is None:
        return DASH
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,}"


def usd(value: Any) -> str:
    if value is None or value == "":
        return DASH
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return DASH
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    # Per-request costs are fractions of a cent: keep four significant digits.
    text = f"{amount:.{max(4, -amount.adjusted() + 3)}f}".rstrip("0").rstrip(".")
    return "$" + text


def ms(value: Any) -> str:
    if value is None:
        return DASH
    value = float(value)
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def percent(value: Any) -> str:
    return DASH if value is None else f"{float(value) * 100:.1f}%"


def duration(seconds: Any) -> str:
    """600.0 -> '10m', as config is written."""
    if seconds is None:
        return DASH
    value = float(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{value:g}s"


def when(iso: Any) -> str:
    """'2026-11-22T07:41:03.123Z' -> '2026-11-22 07:41:03' (UTC, as stored)."""
    if not iso:
        return DASH
    return str(iso).replace("T", " ")[:19]


def pretty(text: Any) -> str:
    """A logged body for reading: indented when it is JSON, else as it was."""
    if text is None:
        return ""
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return str(text)


def _asset_version() -> str:
    """Changes whenever a static file does, so browsers never mix old and new assets."""
    digest = hashlib.sha256()
    for parts, resource in sorted(_files(resources.files(PACKAGE) / STATIC), key=lambda item: item[0]):
        digest.update(parts[-1].encode() + resource.read_bytes())
    return digest.hexdigest()[:10]


def _files(folder: Traversable, parent: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    """Every file under `folder` as (its path's parts below `folder`, the resource)."""
    found: list[tuple[tuple[str, ...], Traversable]] = []
    for entry in folder.iterdir():
        if entry.is_dir():
            found += _files(entry, (*parent, entry.name))
        elif entry.is_file():
            found.append(((*parent, entry.name), entry))
    return found


ENV = Environment(
    loader=PackageLoader(PACKAGE, TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
FILTERS = {"number": number, "compact": compact, "usd": usd, "ms": ms, "percent": percent}
ENV.filters.update(FILTERS, duration=duration, when=when, pretty=pretty)
_VERSION = _asset_version()
ENV.globals["static"] = lambda name: f"/dashboard/static/{name}?v={_VERSION}"


def page(template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    html = ENV.get_template(template).render(context)
    return HTMLResponse(html, status, headers=HEADERS)
