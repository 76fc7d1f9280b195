"""Scriptable fake upstream servers speaking the Anthropic, OpenAI, Gemini, Azure OpenAI, Amazon Bedrock
and Google Vertex AI wire formats (the cloud ones checking auth as their platforms do).

Integration tests point a gateway (or an official SDK) at a ``FakeUpstream`` and script its
next responses; see ``tests.fakes.upstream`` for the public interface.
"""

from .script import RecordedRequest, Script
from .upstream import FakeUpstream

__all__ = ["FakeUpstream", "RecordedRequest", "Script"]
