"""Usage between OpenAI's prompt/completion counts and Anthropic's input/cache/output counts."""

from __future__ import annotations

from typing import Any

from gateway.translate.hub import read_int
from gateway.translate.hub import usage as hub_usage

JSON = dict[str, Any]


def usage_to_anthropic(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    prompt = read_int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    # DeepSeek reports cache hits in its own field instead of prompt_tokens_details.
    cache_read = read_int(details.get("cached_tokens")) or read_int(usage.get("prompt_cache_hit_tokens"))
    cache_write = read_int(details.get("cache_write_tokens")) or read_int(
        details.get("cache_creation_tokens")
    )
    # OpenAI's prompt_tokens includes the cached part; Anthropic's input_tokens excludes it.
    out = hub_usage(
        max(prompt - cache_read - cache_write, 0),
        read_int(usage.get("completion_tokens")),
        cache_write=cache_write,
        cache_read=cache_read,
    )
    completion_details = usage.get("completion_tokens_details")
    if isinstance(completion_details, dict) and isinstance(completion_details.get("reasoning_tokens"), int):
        out["output_tokens_details"] = {"thinking_tokens": completion_details["reasoning_tokens"]}
    return out


def usage_to_openai(usage: Any) -> JSON:
    usage = usage if isinstance(usage, dict) else {}
    cache_read = read_int(usage.get("cache_read_input_tokens"))
    cache_write = read_int(usage.get("cache_creation_input_tokens"))
    prompt = read_int(usage.get("input_tokens")) + cache_read + cache_write
    completion = read_int(usage.get("output_tokens"))
    out: JSON = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
        out["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return out
