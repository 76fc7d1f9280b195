"""OpenAI's Responses API through the hub (Anthropic Messages).

Target side (a Chat Completions or Anthropic client in front of a model served only by the Responses API):
- `request_to_responses.py`: the hub request -> a Responses request (rules in its docstring).
- `response_from_responses.py`: a `Response` -> the hub answer.
- `stream_from_responses.py`: Responses stream events -> hub stream events (`ResponsesStreamToAnthropic`).
"""

from gateway.translate.responses.request_to_responses import (
    REASONING_PREFIX,
    anthropic_request_to_responses,
    reasoning_from_signature,
)
from gateway.translate.responses.response_from_responses import responses_response_to_anthropic
from gateway.translate.responses.stream_from_responses import ResponsesStreamToAnthropic

__all__ = [
    "REASONING_PREFIX",
    "ResponsesStreamToAnthropic",
    "anthropic_request_to_responses",
    "reasoning_from_signature",
    "responses_response_to_anthropic",
]
