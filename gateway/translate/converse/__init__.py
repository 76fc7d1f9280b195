"""Anthropic Messages (the hub) <-> AWS Bedrock Converse / ConverseStream (the JSON REST form).

Request: `anthropic_request_to_converse` (the model goes in the URL: `POST /model/{modelId}/converse`
or `/converse-stream`). Answers: `converse_response_to_anthropic`, `ConverseStreamToAnthropic` (one
decoded event-stream event at a time), `exception_kind` for Bedrock's exception names. Shapes follow the
botocore service model `bedrock-runtime/2023-09-30/service-2.json`; blobs (image/document bytes,
redacted reasoning) are base64 strings on the JSON wire.

Modules: `request.py` (+ `messages.py`, `blocks.py`, `names.py`), `response.py`, `stream.py`,
`errors.py`; the names below are what callers use.

Decisions:
- `system`: Claude Code's first block `x-anthropic-billing-header: ...` changes on every request and
  would bust Bedrock's prompt cache, so it is dropped (protocols.md §3.3). Other blocks -> `{"text"}`.
  `role:"system"` messages before any user/assistant turn are appended to `system`; later ones become a
  user text block with a short operator note, in place (as gemini.py; Converse's `system` message role
  is not accepted by every model).
- `cache_control` on a system block, message block or tool -> a following `{"cachePoint": {"type":
  "default"}}` (with its `ttl` when it is `5m`/`1h`). Top-level `cache_control` (automatic caching) ->
  a cachePoint at the end of the last message.
- Messages: Converse needs user/assistant alternation, a user turn first, no empty content and no
  blank text. Blank text blocks are dropped, turns left empty are dropped (e.g. an assistant turn that
  only held unsigned thinking or server-tool blocks), same-role runs are merged (tool results first in
  a merged user turn); a conversation that still starts with an assistant turn is Untranslatable (a
  synthetic user turn would put words in the user's mouth). `compaction`, `mid_conv_system` and
  `search_result` blocks become text (the model must still see them).
- Thinking: signed `thinking` -> `reasoningContent.reasoningText {text, signature}`, `redacted_thinking`
  -> `reasoningContent.redactedContent` (the data is already base64, the blob's wire form); unsigned
  thinking (e.g. minted by another provider's translation) is dropped.
- Images: base64 png/jpeg/gif/webp -> `image.source.bytes` (the base64 string as given); URL images are
  Untranslatable (Converse takes bytes or S3 only).
- Documents: base64 PDF (and the other Converse formats by media type) -> `document` named by its title,
  reduced to the characters Converse allows (alphanumerics, single spaces, `-()[]`), else
  `document-N`; names are made unique across the request (Bedrock rejects duplicates). Plain-text
  documents become a text block (title, blank line, text): that works on every Converse model, including
  those without document support, and avoids the 5-document limit and the name rules; the title keeps
  the document identifiable (as gemini.py). Content-source documents are inlined. Bedrock rejects a
  message holding a document without a text block, so such a user turn gets a `"."` text block.
  `citations` and `context` are not forwarded (citations would come back as citationsContent, which
  the response side flattens to text anyway).
- Tools: custom tools -> `toolSpec` (`strict` kept). Tool names outside Converse's
  `[a-zA-Z0-9_-]{1,64}` become a 55-char prefix + `_` + 8 hex of sha256 (`converse_tool_names(hub)`
  gives the map back; pass it as `tool_names` to the answer converters). Tool-use ids outside
  `[a-zA-Z0-9_.:-]{1,64}` are replaced, deterministically, on both the call and its result. Anthropic
  server tools (a versioned `type`) are Untranslatable. `tool_choice`: auto/any/tool map to Converse's
  union; `none` has no Converse form: tools are withheld, except when the history holds tool calls or
  results, which Converse only accepts with `toolConfig` present: then tools are kept (the model may
  still call one). History with tool blocks but no tools declared at all is turned into text
  (`[Tool call ...]` / `[Tool result ...]`) rather than rejected: the caller asked for a tool-less
  answer and the history keeps its meaning. `disable_parallel_tool_use` has no Converse form: dropped.
  An empty tool result gets the text `(empty)` (Converse rejects empty content and blank text).
- Inference: `max_tokens` -> `maxTokens` (0, a cache warm-up, -> 1), `temperature`, `top_p`,
  `stop_sequences` -> `inferenceConfig`; with stop sequences the request also asks for
  `additionalModelResponseFieldPaths: ["/stop_sequence"]`, which Claude answers with the matched
  sequence and other models ignore. `top_k` and `thinking` -> `additionalModelRequestFields` (the
  shape Claude on Bedrock takes). `output_config.effort` -> `outputConfig.effort`;
  `output_config.format` / `output_format` (json_schema) -> `outputConfig.textFormat` (schema as a JSON
  string, as the service model requires).
- `model=` (optional): Bedrock rejects, rather than ignores, cachePoints on models without prompt
  caching and Claude's `thinking` / `top_k` on models that validate their native body; given the model
  id, those are left out where they would fail (`request._fit_to_model`). Without it the body is
  model-neutral.
- Dropped: `metadata` (user_id), `service_tier` (Converse's tiers are priority/default/flex, not
  Anthropic's), `container`, `mcp_servers`, `context_management`, `inference_geo`, betas-only fields,
  server-tool blocks in history, `search_result`'s citations (its text is kept).
- Response: text -> text, toolUse -> tool_use (id = toolUseId made Anthropic-safe), reasoningText ->
  thinking (signature or ""), redactedContent -> redacted_thinking, citationsContent -> text. stopReason
  end_turn/tool_use/max_tokens/stop_sequence/model_context_window_exceeded keep their name (Anthropic has
  all five, protocols.md §1.6); guardrail_intervened/content_filtered -> refusal (+ stop_details);
  malformed_* or unknown -> end_turn. end_turn (or unknown) with tool calls -> tool_use, tool_use without
  any -> end_turn (Claude Code runs tools only on tool_use). `stop_sequence` is filled only when the
  model returned `additionalModelResponseFields.stop_sequence`.
- Usage: Converse's `inputTokens` already excludes cache reads and writes, which it reports separately in
  `cacheReadInputTokens` / `cacheWriteInputTokens` (AWS Bedrock User Guide, "Prompt caching for faster
  model inference": tokens read from or written to the cache are billed apart from the remaining input
  tokens; LiteLLM's `AmazonConverseConfig._transform_usage` adds both to `inputTokens` to get an
  inclusive prompt count). That is Anthropic's meaning, so `input_tokens = inputTokens` unchanged.
  `cacheDetails` (writes by TTL) -> `cache_creation.ephemeral_{5m,1h}_input_tokens`.
"""

from gateway.translate.converse.errors import (
    ConverseStreamError,
    exception_kind,
    exception_message,
)
from gateway.translate.converse.names import converse_tool_names
from gateway.translate.converse.request import (
    anthropic_request_to_converse,
    bedrock_converse_body,
    count_tokens_input,
)
from gateway.translate.converse.response import converse_response_to_anthropic
from gateway.translate.converse.stream import ConverseStreamToAnthropic

__all__ = [
    "ConverseStreamError",
    "ConverseStreamToAnthropic",
    "anthropic_request_to_converse",
    "bedrock_converse_body",
    "converse_response_to_anthropic",
    "converse_tool_names",
    "count_tokens_input",
    "exception_kind",
    "exception_message",
]
