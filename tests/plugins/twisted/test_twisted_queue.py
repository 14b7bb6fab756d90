"""ClosableDeferredQueue without a broker: the wake-ups held during a read keep the queue's order."""

from __future__ import annotations

from typing import Any

from pika_twisted import ClosableDeferredQueue
from twisted.internet import defer

from pika_core import exceptions


def _results(*deferreds: defer.Deferred[Any]) -> list[Any]:
    out: list[Any] = []
    for d in deferreds:
        d.addBoth(out.append)
    return out


def test_held_items_reach_the_waiting_get_only_on_release() -> None:
    queue = ClosableDeferredQueue()
    waiting = queue.get()
    held: list[ClosableDeferredQueue] = []
    queue._hold("one", held)
    queue._hold("two", held)
    assert held == [queue]  # registered once per read
    assert not waiting.called
    queue._release()
    assert _results(waiting) == ["one"]
    assert queue.pending == ["two"]
    assert _results(queue.get()) == ["two"]


def test_get_during_a_held_read_queues_behind_the_earlier_waiter() -> None:
    queue = ClosableDeferredQueue()
    first = queue.get()
    held: list[ClosableDeferredQueue] = []
    queue._hold("one", held)
    queue._hold("two", held)
    second = queue.get()  # must not jump ahead of ``first``
    assert not second.called
    queue._release()
    assert _results(first, second) == ["one", "two"]
    assert queue.pending == []


def test_put_during_a_held_read_hands_out_the_held_items_first() -> None:
    queue = ClosableDeferredQueue()
    waiting = queue.get()
    queue._hold("held", [])
    queue.put("put")
    assert _results(waiting) == ["held"]
    assert _results(queue.get()) == ["put"]


def test_close_during_a_held_read_hands_out_the_held_items_then_fails() -> None:
    queue = ClosableDeferredQueue()
    first = queue.get()
    second = queue.get()
    queue._hold("one", [])
    queue.close(exceptions.ConsumerCancelled("tag"))
    got = _results(first, second)
    assert got[0] == "one"
    assert got[1].check(exceptions.ConsumerCancelled)
    later = _results(queue.get())
    assert later[0].check(exceptions.ConsumerCancelled)
    assert isinstance(queue.put("x"), defer.Deferred)  # a failed Deferred once closed


def test_get_of_a_queued_item_is_a_fired_deferred_like_succeed() -> None:
    queue = ClosableDeferredQueue()
    queue.put("one")
    queue.put("two")
    d = queue.get()
    assert d.called and not d.paused
    # Callbacks run at once and chain, as on defer.succeed("one").
    assert _results(d.addCallback(lambda item: item.upper())) == ["ONE"]

    async def take() -> Any:
        return await queue.get()

    awaited = defer.ensureDeferred(take())
    assert _results(awaited) == ["two"]
    assert queue.pending == []
