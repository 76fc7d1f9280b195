"""Byte-exact model rewriting."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.dataplane.body import replace_top_level_string


def test_only_the_top_level_value_changes() -> None:
    body = (
        b'{"tools":[{"input_schema":{"properties":{"model":{"type":"string"}}}}],'
        b'"messages":[{"role":"user","content":[{"type":"tool_use","input":{"model":"fast"}}]}],'
        b'  "model"  :  "fast" , "x": "\\"model\\": \\"fast\\""}'
    )
    out = replace_top_level_string(body, "model", "fast", "claude-haiku-4-5")
    assert out == body.replace(b'"model"  :  "fast"', b'"model"  :  "claude-haiku-4-5"')
    assert orjson.loads(out)["messages"][0]["content"][0]["input"]["model"] == "fast"


def test_escaped_values_are_matched_by_meaning() -> None:
    body = b'{"model":"f\\u0061st","a":1}'
    assert replace_top_level_string(body, "model", "fast", "x") == b'{"model":"x","a":1}'


def test_missing_key_raises() -> None:
    with pytest.raises(ValueError):
        replace_top_level_string(b'{"a":{"model":"m"}}', "model", "n", "x")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["model", "a", "b"]), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(st.sampled_from(["a", "b", "messages", "tools"]), json_values, max_size=4),
    st.text(min_size=1, max_size=10),
    st.text(min_size=1, max_size=10),
    st.booleans(),
)
def test_rewrite_changes_exactly_the_model(rest: dict[str, object], old: str, new: str, last: bool) -> None:
    obj = {**rest, "model": old} if last else {"model": old, **rest}
    body = orjson.dumps(obj)
    out = replace_top_level_string(body, "model", old, new)
    assert orjson.loads(out) == {**obj, "model": new}
    prefix = body.index(b'"model":' + orjson.dumps(old)) if last else 0
    assert out[:prefix] == body[:prefix]
