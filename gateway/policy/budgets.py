"""Budget arithmetic: calendar periods, the counter a request counts against, and the worst case it may
cost. Pure functions; the store (gateway/state) holds the counters and `admission.py` drives them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from gateway.policy.state.store import Counter, to_usd
from gateway.pricing.prices import MILLION, Price, format_usd
from gateway.routing.plan import Facts, show_value
from gateway.routing.table import Budget

# When a request does not say how long its answer may be (OpenAI's max_tokens is optional), its worst
# case assumes the target model's maximum output where the gateway knows it (what a translated call is
# sent, and what OpenAI and Gemini allow uncapped), else this many output tokens; a longer answer still
# settles at its real cost.
DEFAULT_MAX_OUTPUT = 4096
ABSENT = "absent"  # the `by` part for requests without the field (not valid JSON, so no clash)


def period(name: str, now: datetime) -> tuple[str, datetime | None]:
    """(label, end) of the calendar period (UTC) holding `now`; `total` never ends."""
    now = now.astimezone(UTC)
    if name == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%d"), start + timedelta(days=1)
    if name == "week":  # ISO weeks start on Monday
        start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}", start + timedelta(days=7)
    if name == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return start.strftime("%Y-%m"), end
    if name == "total":
        return "total", None
    raise ValueError(f"unknown budget period {name!r}")


def by_part(field: str | None, facts: Facts) -> str:
    """The counter key part for a `by` field: its value as JSON, `absent`, or `*` without `by`."""
    if not field:
        return "*"
    present, value = facts.field(field)
    return show_value(value) if present else ABSENT


class Periods:
    """The current period of each kind, recomputed only when it ends (not on every request)."""

    def __init__(self) -> None:
        self._current: dict[str, tuple[str, float | None]] = {}

    def current(self, name: str, now: float) -> tuple[str, float | None]:
        found = self._current.get(name)
        if found is None or (found[1] is not None and now >= found[1]):
            label, end = period(name, datetime.fromtimestamp(now, UTC))
            found = self._current[name] = (label, end.timestamp() if end else None)
        return found


def counter(budget: Budget, facts: Facts, current: tuple[str, float | None]) -> Counter:
    """The counter a request counts against, in the period `current` = (label, end)."""
    label, end = current
    return Counter(f"{budget.name}|{label}|{by_part(budget.by, facts)}", budget.units, end)


def worst_case(targets: Iterable[tuple[Price, int]], input_tokens: int) -> Decimal:
    """The most one call can cost: every input token at the dearest input rate (cache writes cost more
    than plain input) plus its output cap, on the dearest of the (price, output cap) it may go to."""
    worst = Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 60
        for price, cap in targets:
            p = price.for_prompt(input_tokens)
            per_input = max(p.input, p.cache_read, p.cache_write)
            worst = max(worst, (input_tokens * per_input + cap * p.output) / MILLION)
    return worst


def output_cap(*sources: Mapping[str, Any], default: int = DEFAULT_MAX_OUTPUT) -> int:
    """The output-token cap the first source that has one asks for (a leaf's params, then the
    request), or `default` (the model's maximum output, where known)."""
    for source in sources:
        for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):  # the last: Responses
            value = source.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return default


def reset_text(c: Counter) -> str:
    if c.expires_at is None:
        return "never (period: total)"
    return datetime.fromtimestamp(c.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spent_message(budget: Budget, c: Counter, spent: int, reserved: int, amount: int) -> str:
    held = f" with ${format_usd(to_usd(reserved))} held by requests in flight" if reserved else ""
    by = c.key.split("|", 2)[2]
    who = f" for {budget.by}={by}" if budget.by else ""
    return (
        f"budget {budget.name!r}{who} is spent: ${format_usd(to_usd(spent))} of "
        f"${format_usd(budget.usd)} {'in total' if budget.period == 'total' else 'per ' + budget.period}"
        f"{held}; this request may cost up to "
        f"${format_usd(to_usd(amount))}. It resets {reset_text(c)}."
    )


def warning(budget: Budget, spent: int) -> str | None:
    """The x-gateway-budget-warning text once spend passes `warn_at`, else None."""
    if budget.warn_at is None:
        return None
    limit = budget.units
    if spent < limit * budget.warn_at:
        return None
    shown = f"${format_usd(to_usd(spent))} of ${format_usd(budget.usd)}"
    return f"{budget.name}: {100 * spent / limit:.0f}% spent ({shown})"
