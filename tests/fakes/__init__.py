"""Scriptable fake upstream servers speaking the Anthropic, OpenAI and Gemini wire formats.

Integration tests point a gateway (or an official SDK) at a ``FakeUpstream`` and script its
next responses; see ``tests.fakes.upstream`` for the public interface.
"""

from .script import RecordedRequest, Script
from .upstream import FakeUpstream

__all__ = ["FakeUpstream", "RecordedRequest", "Script"]
