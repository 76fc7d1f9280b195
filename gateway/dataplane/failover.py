"""When to try again: fallback `on` conditions, retry backoff, and a retry budget.

Pure helpers and the decision after a failed attempt; the loop itself lives in attempts.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# What moves a request on when config says nothing (config.md: fallback `on` default).
DEFAULT_ON = ("429", "5xx", "timeout", "connect")
# Provider-advised waits longer than this are not honoured inline: the next candidate is tried instead.
MAX_RETRY_AFTER = 60.0
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0


def failure_matches(on: tuple[str, ...], status: int | None = None, cause: str | None = None) -> bool:
    """Does a failure (an upstream status, or a cause such as 'timeout'/'connect') match an `on` list?"""
    for item in on:
        if cause is not None and item == cause:
            return True
        if status is None:
            continue
        if item == "4xx" and 400 <= status < 500:
            return True
        if item == "5xx" and 500 <= status < 600:
            return True
        if item.isdigit() and int(item) == status:
            return True
    return False


def backoff(attempt: int, retry_after: float | None, rand: Callable[[], float]) -> float | None:
    """Seconds before retry number `attempt` (0-based): the upstream's advice if sane, else full jitter.

    None means the advised wait is too long to hold the client for: give up on this target.
    """
    if retry_after is not None:
        return retry_after if retry_after <= MAX_RETRY_AFTER else None
    return rand() * min(BACKOFF_CAP, BACKOFF_BASE * 2.0**attempt)


@dataclass(slots=True)
class RetryBudget:
    """Retries in flight stay under a fraction of requests in flight (Envoy's retry budget), so a storm of
    upstream failures cannot multiply the load on an upstream that is already failing."""

    ratio: float = 0.2
    minimum: int = 3
    active: int = 0
    retrying: int = 0

    def allows(self) -> bool:
        return self.retrying < max(self.minimum, int(self.active * self.ratio))


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with one attempt: an upstream status, or a cause without one (timeout, connect),
    and the wait the upstream advised, if any."""

    status: int | None
    cause: str | None
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class Decision:
    retry_after: float | None = None  # retry the same target after this many seconds
    fall_back: bool = False  # move on to the next candidate; neither: the client gets the failure


def decide(
    failure: Failure,
    may_retry: bool,
    attempt: int,
    fallback_on: tuple[str, ...],
    rand: Callable[[], float],
) -> Decision:
    """After a failed attempt: retry it (when allowed, the failure is retryable and the advised wait is
    sane), else fall back (when the failure is in the fallback's `on`), else give the client the failure."""
    if may_retry and failure_matches(DEFAULT_ON, failure.status, failure.cause):
        wait = backoff(attempt, failure.retry_after, rand)
        if wait is not None:
            return Decision(retry_after=wait)
    return Decision(fall_back=failure_matches(fallback_on, failure.status, failure.cause))
