"""Guardrails (config.md `guardrails:`): checks on what goes to a model and what comes back.

The compiled values here are immutable, built once per config by the compiler and shared by every
request: a `Guardrail` names its checks (a `Matcher` over text, a token ceiling, a webhook) and what a hit
does (block, redact, flag).
"""

from gateway.policy.guardrails.builtins import BUILTINS, DETECTORS
from gateway.policy.guardrails.matcher import (
    MAX_MATCH,
    Detector,
    Hit,
    Matcher,
    PatternError,
    apply,
    check_pattern,
    compile_pattern,
    redaction,
)
from gateway.policy.guardrails.model import Guardrail, GuardrailHit, Webhook, matcher_of

__all__ = [
    "BUILTINS",
    "DETECTORS",
    "MAX_MATCH",
    "Detector",
    "Guardrail",
    "GuardrailHit",
    "Hit",
    "Matcher",
    "PatternError",
    "Webhook",
    "apply",
    "check_pattern",
    "compile_pattern",
    "matcher_of",
    "redaction",
]
