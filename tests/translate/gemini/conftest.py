"""The Gemini tests' fixtures (defined in support.py), for every test module of this folder."""

from tests.translate.gemini.support import _gemini_server, fake

__all__ = ["_gemini_server", "fake"]
