"""OpenAI Chat Completions <-> Anthropic Messages: requests, responses, streams and errors, both ways.

Modules: `request_from_openai.py`, `request_to_openai.py`, `response.py` (both ways),
`stream_to_anthropic.py`, `stream_to_openai.py`, `errors.py` (both ways), with `common.py` and `usage.py`
shared; the names below are what callers use. All inputs and outputs are parsed JSON bodies (dicts). Rules
follow protocols.md §6; where it leaves a choice, the choice is stated next to the code that makes it.
The decisions that change what a client sees:

Requests, OpenAI -> Anthropic (`openai_request_to_anthropic`):
- Leading system/developer messages become the top-level `system`. Later ones stay where they are, as a
  user-turn text wrapped in `<system_message>` tags: hoisting them would rewrite the cached prefix, and
  Anthropic's own `role: "system"` message is rejected by older models and by the other upstreams the hub
  feeds (protocols.md §1.3, §6.1).
- `temperature` is clamped to 1 (OpenAI's scale runs to 2, Anthropic's to 1; rescaling would turn the
  common 0.7 into 0.35). With both `temperature` and `top_p`, `top_p` is dropped (newer models reject
  the pair). Claude models after 4.6 reject sampling parameters altogether, so they get neither.
- `reasoning_effort`: `none`/`minimal` -> `thinking: {type: disabled}`; `low`..`max` -> adaptive thinking
  plus `output_config.effort` of the same name; for models without adaptive thinking (Claude 3.x and
  4.0-4.5) -> `thinking: {type: enabled}` with a budget of 1024/2048/4096/8192/16384 tokens, kept below
  `max_tokens`. Thinking is left off when the request forces a tool (Anthropic rejects forced tool use
  with thinking) and when the last assistant turn of a tool loop has no signed thinking to replay
  (Anthropic requires it to start with its original thinking block).
- No `max_tokens`/`max_completion_tokens`: `max_tokens` is the caller's `default_max_tokens` (the data
  plane passes the model's maximum output where it knows it, as OpenAI's own default is), else 4096.
- `response_format: json_object` becomes a system instruction (Anthropic's structured output needs a
  schema that closes every object, so there is no "any JSON object" schema).
- Unsigned reasoning in assistant history is dropped; LiteLLM-style `thinking_blocks` that carry an
  Anthropic signature are replayed verbatim. Signatures are never invented.
- `n > 1`, `logprobs`, audio input or output, and `file` parts by id are `Untranslatable`.

Requests, Anthropic -> OpenAI (`anthropic_request_to_openai`):
- Claude Code's `x-anthropic-billing-header:` system line is dropped: it changes on every request and
  would defeat the upstream's prefix cache (protocols.md §3.3).
- Images and PDFs inside a `tool_result` move to a user message right after the tool messages (OpenAI
  tool messages carry text only); the tool message says where they went. Claude Code's Read tool returns
  screenshots this way, so refusing them would break it.
- Server tools (versioned `type`) are dropped, but web_search on a search model (`gpt-*-search-*`):
  `web_search_options` with the `user_location`; a domain filter is refused (Chat has none). Which
  targets may be sent which server tool is decided before (providers/server_tools.py). Tool names OpenAI
  rejects are shortened deterministically; `tool_name_map()` gives the way back for responses.
- Answers: `message.annotations` `url_citation` -> the cited span as a text block of its own with a
  `web_search_result_location` citation (streamed: `citations_delta` on the open text block), and a
  search model's call as `usage.server_tool_use.web_search_requests: 1`; the hub's citations go back to
  an OpenAI client as `url_citation` annotations (streamed: a delta with `annotations` when the block
  stops, placed by their `cited_text`).
- Tool ids longer than OpenAI's 40 characters (Gemini's carry a thought signature, other gateways mint
  long ones) become `call_` + 32 hex of their sha256, the same on the call and on its result; OpenAI
  answers with its own ids, so nothing maps back. `fit_tool_ids()` does the same to an OpenAI client's
  own request bound for OpenAI (its history may hold ids a Gemini turn minted).
- `thinking` enabled/adaptive -> `reasoning_effort`: `output_config.effort` when given (`xhigh` and
  `max` become `high`, which every reasoning model accepts), else from `budget_tokens` (<1024 minimal,
  <2048 low, <4096 medium, else high), else `medium`. Thinking disabled or absent -> no
  `reasoning_effort`, and only then are `temperature`/`top_p` sent (reasoning models reject them).
- `metadata.user_id` -> `user`; one longer than 64 characters (Claude Code's JSON of device, account and
  session ids) is sent as its sha256 hex, stable and opaque.

Responses:
- Upstream reasoning text (`reasoning_content`/`reasoning`) becomes a thinking block with an empty
  signature, both streamed and not: Claude Code shows it, the SDKs accept it, and the empty signature
  marks it as unverifiable. Translations to OpenAI drop thinking anyway; a conversation that later goes
  to Anthropic itself must lose these blocks first (Anthropic rejects them), which
  `drop_unsigned_thinking()` does; `thinking_off_for_foreign_loop()` turns thinking off for a call whose
  tool loop's last assistant turn has no thinking to replay (another provider wrote it), which Anthropic
  would refuse with thinking on.
- Tool-call arguments that do not parse as a JSON object become `{}` (a call cut off by `length`
  has truncated arguments; the client's own schema check then tells the model what is missing).
- `stop` -> `end_turn`, never `stop_sequence`: OpenAI strips the matched sequence and does not say which
  one matched. Tool calls in the answer make it `tool_use` whatever the upstream said.
"""

from gateway.translate.openai_chat.common import short_tool_name, tool_name_map
from gateway.translate.openai_chat.errors import (
    StreamError,
    anthropic_error_to_openai,
    openai_error_to_anthropic,
)
from gateway.translate.openai_chat.request_from_openai import (
    DEFAULT_MAX_TOKENS,
    drop_unsigned_thinking,
    openai_request_to_anthropic,
    thinking_off_for_foreign_loop,
)
from gateway.translate.openai_chat.request_to_openai import anthropic_request_to_openai, fit_tool_ids
from gateway.translate.openai_chat.response import (
    anthropic_response_to_openai,
    openai_response_to_anthropic,
)
from gateway.translate.openai_chat.stream_to_anthropic import OpenAIStreamToAnthropic
from gateway.translate.openai_chat.stream_to_openai import AnthropicStreamToOpenAI

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicStreamToOpenAI",
    "OpenAIStreamToAnthropic",
    "StreamError",
    "anthropic_error_to_openai",
    "anthropic_request_to_openai",
    "anthropic_response_to_openai",
    "drop_unsigned_thinking",
    "fit_tool_ids",
    "openai_error_to_anthropic",
    "openai_request_to_anthropic",
    "openai_response_to_anthropic",
    "short_tool_name",
    "thinking_off_for_foreign_loop",
    "tool_name_map",
]
