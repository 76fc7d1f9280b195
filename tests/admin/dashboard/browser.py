"""Debian's Chromium driven by Playwright (no browser download). In CI (CI=true) a missing piece fails
the test; elsewhere it skips with the reason, like tests/services.py's `require`."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.services import require

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "test-output" / "screenshots"  # CI's artifact folder


def chromium() -> str:
    """The Chromium binary to launch; playwright must be importable too."""
    if importlib.util.find_spec("playwright") is None:
        message = "playwright is not installed (pip install playwright; its browser download is not needed)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return require("chromium")
