"""The lock-free handoff from the event loop to a writer thread: order, batches, drops, flush, stop."""

from __future__ import annotations

import threading

from gateway.observe.handoff import Handoff


def test_records_are_written_in_order_in_batches_and_flush_waits_for_them() -> None:
    batches: list[list[int]] = []
    started = threading.Event()
    handoff: Handoff[int] = Handoff(
        "t", batches.append, capacity=100, interval=0.01, batch=7, first=started.set
    )
    handoff.start()
    for i in range(20):
        handoff.put(i)
    assert handoff.flush(timeout=5)
    assert started.is_set()
    assert [i for b in batches for i in b] == list(range(20))
    assert max(len(b) for b in batches) <= 7
    assert handoff.idle() and handoff.depth() == 0
    handoff.stop()


def test_a_full_queue_counts_drops_and_stop_writes_what_was_queued() -> None:
    written: list[int] = []
    gate = threading.Event()

    def slow(batch: list[int]) -> None:
        gate.wait(5)
        written.extend(batch)

    handoff: Handoff[int] = Handoff("t", slow, capacity=3, interval=0.01)
    for i in range(5):  # not started: nothing drains, the last two do not fit
        handoff.put(i)
    assert handoff.dropped == 2 and handoff.depth() == 3
    handoff.start()
    gate.set()
    handoff.stop()
    assert written == [0, 1, 2]
