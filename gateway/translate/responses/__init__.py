"""OpenAI's Responses API through the hub (Anthropic Messages).

Client side (a Responses client in front of a non-Responses provider):
- `request_from_responses.py`: a Responses request -> the hub request (rules in its docstring).
- `response_to_responses.py`: the hub answer -> a `Response` object.
- `stream_to_responses.py`: hub stream events -> Responses stream events (`AnthropicStreamToResponses`).
- `items.py`: the ids the gateway mints (`resp_gw...`) and the reversible tool names (namespaces).
- `reasoning.py`: a target's signed reasoning carried in `encrypted_content`.

Target side (a Chat Completions or Anthropic client in front of a model served only by the Responses API):
- `request_to_responses.py`: the hub request -> a Responses request (rules in its docstring).
- `response_from_responses.py`: a `Response` -> the hub answer.
- `stream_from_responses.py`: Responses stream events -> hub stream events (`ResponsesStreamToAnthropic`).
"""

from gateway.translate.responses.items import (
    GATEWAY_RESPONSE_PREFIX,
    ToolNames,
    hub_tool_name,
    new_item_id,
    new_response_id,
)
from gateway.translate.responses.request_from_responses import responses_request_to_anthropic
from gateway.translate.responses.request_to_responses import (
    REASONING_PREFIX,
    anthropic_request_to_responses,
    reasoning_from_signature,
)
from gateway.translate.responses.response_from_responses import responses_response_to_anthropic
from gateway.translate.responses.response_to_responses import anthropic_response_to_responses
from gateway.translate.responses.stream_from_responses import ResponsesStreamToAnthropic
from gateway.translate.responses.stream_to_responses import AnthropicStreamToResponses

__all__ = [
    "GATEWAY_RESPONSE_PREFIX",
    "REASONING_PREFIX",
    "AnthropicStreamToResponses",
    "ResponsesStreamToAnthropic",
    "ToolNames",
    "anthropic_request_to_responses",
    "anthropic_response_to_responses",
    "hub_tool_name",
    "new_item_id",
    "new_response_id",
    "reasoning_from_signature",
    "responses_request_to_anthropic",
    "responses_response_to_anthropic",
]
