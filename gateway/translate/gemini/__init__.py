"""Anthropic Messages (the hub) <-> Google Gemini generateContent / streamGenerateContent?alt=sse.

Modules: `request.py` (+ `schema.py`, `names.py`), `response.py`, `stream.py`, `errors.py`,
`count_tokens.py`; the names below are what callers use.

Request: `anthropic_request_to_gemini` (the model goes in the URL: `GEMINI_PATHS`). Answers:
`gemini_response_to_anthropic`, `GeminiStreamToAnthropic` (one parsed `data:` object at a time),
`gemini_error_to_anthropic`. Token counting: `count_tokens_request` / `count_tokens_response`.

Decisions (protocols.md §7 unless noted):
- `system`: Claude Code's first block `x-anthropic-billing-header: ...` changes on every request and would
  bust Gemini's implicit prefix cache, so it is dropped (§3.3). The rest -> `systemInstruction`, a part
  per block. `role:"system"` messages *before* any user/assistant turn are appended to it too; later ones
  become a user text part with a short operator note, in place: hoisting them would rewrite the cached
  prefix and move the instruction away from the point the client chose (§6.1, LiteLLM's rewrite).
- Tool call ids: Gemini has none on the wire we target, so none are sent. `functionResponse.name` is
  recovered from the `tool_use` with the same id anywhere in the conversation; an unknown id -> 400.
- Thought signatures: Gemini 3 rejects a replayed `functionCall` without its `thoughtSignature`, so a
  signature on a functionCall part is carried inside the minted `tool_use.id` (`toolu_<24 hex>_gsig_<sig
  in base64url>`) and restored on the way back, verbatim. Calls Gemini did not make (from Anthropic,
  OpenAI, Bedrock: a fallback or a model switch inside a tool loop) carry none, and Gemini 3 refuses them
  in the current turn ("Function call is missing a thought_signature"): an assistant turn whose calls
  have no signature at all gets Google's documented placeholder `skip_thought_signature_validator` on
  each call, for every model (signatures are optional before Gemini 3; a model name on Vertex or behind
  an alias does not say which generation it is). Signatures on text/thought parts are optional for
  Gemini and are not kept: the only place for them would be a thinking block's `signature`, where Anthropic
  would later reject it as forged. Thinking blocks therefore carry `signature: ""` and are dropped from
  requests (Gemini cannot take Anthropic-signed thinking).
- Tool names: Gemini allows `[A-Za-z_][A-Za-z0-9_.:-]{0,63}`; other names (long MCP names) become a
  55-char prefix + `_` + 8 hex of sha256. `gemini_tool_names(body)` gives the map back; pass it to the
  response/stream converters so the client sees its own names.
- Thinking: `enabled` -> `thinkingBudget = budget_tokens` (capped at 24576, the largest budget every
  2.5/3 model accepts) + `includeThoughts`; `adaptive` -> budget from `output_config.effort` (low 1024,
  medium 8192, high/xhigh/max 24576) or -1 (dynamic) + `includeThoughts` (false for `display:
  "omitted"`); effort alone -> the budget without `includeThoughts`; `disabled` -> no thinkingConfig,
  because budget 0 is a 400 on models that cannot stop thinking (2.5 Pro, 3 Pro). `thinkingBudget`
  rather than `thinkingLevel` because the model is not known here and Gemini 3 still accepts budgets.
- `max_tokens: 0` (cache warm-up) -> `maxOutputTokens: 1`, the smallest Gemini generation.
- Dropped: `cache_control`, `metadata`, `service_tier`, `container`, `inference_geo`, `context_management`,
  `mcp_servers`, `disable_parallel_tool_use` (no equivalents), server tools but web_search and
  web_fetch, server-tool blocks in history, citations.
- Server tools: `web_search_*` -> `{"google_search": {}}` (a domain filter is refused: Gemini has none),
  `web_fetch_*` -> `{"url_context": {}}`. The answer's `groundingMetadata` -> one `server_tool_use` +
  `web_search_tool_result` pair per `webSearchQueries` entry (the `groundingChunks` pages in the first),
  the text split at each `groundingSupports` segment (UTF-8 byte offsets) into blocks carrying
  `web_search_result_location` citations, and `usage.server_tool_use.web_search_requests` = the queries.
  A stream puts the citations on the text block still open and the search blocks after the text.
- finishReason: STOP (or none) -> `end_turn`, or `tool_use` when a functionCall was produced (Gemini
  says STOP for calls); MAX_TOKENS -> `max_tokens`; the safety family -> `refusal` (+ `stop_details`);
  anything else (OTHER, MALFORMED_FUNCTION_CALL, ...) -> `end_turn`, or `tool_use` if calls exist.
- Usage: input = promptTokenCount + toolUsePromptTokenCount - cachedContentTokenCount (Anthropic's
  input is exclusive of cache reads), cache_read = cached, cache_creation = 0, output = candidates +
  thoughts (Gemini's candidates count excludes thoughts; Anthropic's output includes thinking).
"""

from typing import Final

from gateway.translate.gemini.count_tokens import count_tokens_request, count_tokens_response
from gateway.translate.gemini.errors import GeminiStreamError, gemini_error_to_anthropic
from gateway.translate.gemini.names import gemini_tool_names
from gateway.translate.gemini.request import anthropic_request_to_gemini
from gateway.translate.gemini.response import gemini_response_to_anthropic, grounding, grounding_searches
from gateway.translate.gemini.schema import clean_schema
from gateway.translate.gemini.stream import GeminiStreamToAnthropic

GEMINI_PATHS: Final = {
    "generate": "/models/{model}:generateContent",
    "stream": "/models/{model}:streamGenerateContent?alt=sse",
    "count": "/models/{model}:countTokens",
}

__all__ = [
    "GEMINI_PATHS",
    "GeminiStreamError",
    "GeminiStreamToAnthropic",
    "anthropic_request_to_gemini",
    "clean_schema",
    "count_tokens_request",
    "count_tokens_response",
    "gemini_error_to_anthropic",
    "gemini_response_to_anthropic",
    "gemini_tool_names",
    "grounding",
    "grounding_searches",
]
