"""bench/wrk.py's arguments to post.lua and bench/ttfb.py's timing of stream pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import mock, targets, wrk
from bench.ttfb import StreamError, holds_ms, marker_times


def test_script_args_carry_every_header_after_the_body() -> None:
    args = wrk.script_args(Path("/b.json"), {"x-api-key": "k", "x-portkey-custom-host": "http://h:1/v1"})
    assert args == ["/b.json", "x-api-key: k", "x-portkey-custom-host: http://h:1/v1"]
    # post.lua splits at the first colon: a colon in the name or a line break would corrupt the request.
    for bad in ({"a:b": "v"}, {"a": "v\r\nx: y"}, {" ": "v"}):
        with pytest.raises(ValueError):
            wrk.script_args(Path("/b.json"), bad)


def test_portkey_routes_by_headers_to_the_upstream_of_its_variant() -> None:
    headers = targets.arm_headers(targets.ARMS["portkey"], "http://127.0.0.1:9001")
    assert headers == {"x-portkey-provider": "anthropic", "x-portkey-custom-host": "http://127.0.0.1:9001/v1"}
    assert targets.arm_headers(targets.ARMS["gateway"], "http://127.0.0.1:9001") == {}


def test_marker_times_follow_pieces_across_reads() -> None:
    markers = (b"message_start", b"alpha", b"beta")
    chunks = [(1.0, b"event: message_st"), (1.5, b"art\n\ndata: al"), (2.0, b"pha beta")]
    # message_start completes at 1.5; alpha and beta both arrive in the read at 2.0.
    assert marker_times(chunks, markers) == [1.5, 2.0, 2.0]
    with pytest.raises(StreamError, match="beta"):
        marker_times([*chunks[:2], (2.0, b"pha")], markers)


def test_markers_must_come_in_order() -> None:
    # A later marker seen before an earlier one is not counted for it: order is the stream's.
    assert marker_times([(1.0, b"beta alpha"), (2.0, b" beta")], (b"alpha", b"beta")) == [1.0, 2.0]


def test_holds_are_lateness_against_the_schedule() -> None:
    # Pieces scheduled 0, 10, 30 ms after the first; arriving 0, 12, 30 ms after it.
    assert holds_ms([5.0, 5.012, 5.030], [0.0, 10.0, 30.0]) == pytest.approx([2.0, 0.0])


def test_paced_markers_match_the_schedule() -> None:
    assert len(mock.PACED_MARKERS) == len(mock.paced_offsets_ms()) == len(mock.PACED_GAPS_MS) + 1
    assert mock.paced_offsets_ms()[:3] == [0.0, mock.PACED_GAPS_MS[0], sum(mock.PACED_GAPS_MS[:2])]
