"""OpenAI's Responses API through the hub (Anthropic Messages).

Client side (a Responses client in front of a non-Responses provider):
- `request_from_responses.py`: a Responses request -> the hub request (rules in its docstring).
- `response_to_responses.py`: the hub answer -> a `Response` object.
- `stream_to_responses.py`: hub stream events -> Responses stream events (`AnthropicStreamToResponses`).
- `items.py`: the ids the gateway mints (`resp_gw...`) and the reversible tool names (namespaces).
- `reasoning.py`: a target's signed reasoning carried in `encrypted_content`.
"""

from gateway.translate.responses.items import (
    GATEWAY_RESPONSE_PREFIX,
    ToolNames,
    hub_tool_name,
    new_item_id,
    new_response_id,
)
from gateway.translate.responses.request_from_responses import responses_request_to_anthropic
from gateway.translate.responses.response_to_responses import anthropic_response_to_responses
from gateway.translate.responses.stream_to_responses import AnthropicStreamToResponses

__all__ = [
    "GATEWAY_RESPONSE_PREFIX",
    "AnthropicStreamToResponses",
    "ToolNames",
    "anthropic_response_to_responses",
    "hub_tool_name",
    "new_item_id",
    "new_response_id",
    "responses_request_to_anthropic",
]
