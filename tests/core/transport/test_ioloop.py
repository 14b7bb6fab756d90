"""The select IOLoop: timers, thread-safe callbacks, fd handlers, each poller, start/stop."""

from __future__ import annotations

import functools
import socket
import threading
import time

import pytest
from transport_support import POLLERS, spin

from pika_core.adapters import select_connection
from pika_core.adapters.select_connection import IOLoop, PollEvents


def test_constants_match_pika() -> None:
    assert (IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR) == (0x1, 0x4, 0x8)
    assert PollEvents.READ == IOLoop.READ
    assert select_connection.SELECT_TYPE is None


def test_automatic_poller_prefers_epoll_then_kqueue_then_poll() -> None:
    loop = IOLoop()
    try:
        expected = next(name for name in ("epoll", "kqueue", "poll", "select") if name in POLLERS)
        assert loop.poller_name == expected
    finally:
        loop.close()


def test_unknown_select_type_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select_connection, "SELECT_TYPE", "bogus")
    with pytest.raises(ValueError, match="SELECT_TYPE"):
        IOLoop()


def test_timers_run_in_deadline_order_and_ties_in_scheduling_order(ioloop: IOLoop) -> None:
    order: list[str] = []
    ioloop.call_later(0.06, lambda: order.append("late"))
    ioloop.call_later(0.0, lambda: order.append("a"))
    ioloop.call_later(0.0, lambda: order.append("b"))
    ioloop.call_later(0.03, lambda: order.append("mid"))
    ioloop.call_later(0.0, lambda: order.append("c"))
    ioloop.call_later(0.1, ioloop.stop)
    ioloop.start()
    assert order == ["a", "b", "c", "mid", "late"]


def test_timer_does_not_fire_early(ioloop: IOLoop) -> None:
    fired: list[float] = []
    start = time.monotonic()

    def fire() -> None:
        fired.append(time.monotonic() - start)
        ioloop.stop()

    ioloop.call_later(0.15, fire)
    ioloop.start()
    assert len(fired) == 1 and fired[0] >= 0.149


def test_removed_timeout_never_fires_and_removal_is_idempotent(ioloop: IOLoop) -> None:
    fired: list[str] = []
    handle = ioloop.call_later(0.01, lambda: fired.append("cancelled"))
    keep = ioloop.call_later(0.02, lambda: fired.append("kept"))
    ioloop.remove_timeout(handle)
    ioloop.remove_timeout(handle)
    ioloop.call_later(0.05, ioloop.stop)
    ioloop.start()
    assert fired == ["kept"]
    ioloop.remove_timeout(keep)  # after it ran: harmless


def test_many_cancellations_compact_the_heap(ioloop: IOLoop) -> None:
    fired: list[int] = []
    handles = [ioloop.call_later(10, lambda: fired.append(0)) for _ in range(2000)]
    for handle in handles:
        ioloop.remove_timeout(handle)
    assert len(ioloop._timers._heap) < 600  # cancelled entries were dropped
    ioloop.call_later(0, lambda: fired.append(1))
    ioloop.call_later(0.01, ioloop.stop)
    ioloop.start()
    assert fired == [1]


def test_call_later_validates_arguments(ioloop: IOLoop) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        ioloop.call_later(-1, lambda: None)
    with pytest.raises(TypeError, match="callable"):
        ioloop.call_later(1, "nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        ioloop.add_callback_threadsafe(None)  # type: ignore[arg-type]


def test_callback_exception_propagates_out_of_start(ioloop: IOLoop) -> None:
    def boom() -> None:
        raise RuntimeError("from a timer")

    ioloop.call_later(0, boom)
    with pytest.raises(RuntimeError, match="from a timer"):
        ioloop.start()
    # the loop can be started again afterwards
    ioloop.call_later(0, ioloop.stop)
    ioloop.start()


def test_threadsafe_callbacks_from_other_threads_wake_a_blocked_loop(ioloop: IOLoop) -> None:
    received: list[int] = []
    threads_done = threading.Event()

    def producer(base: int) -> None:
        for i in range(100):
            ioloop.add_callback_threadsafe(functools.partial(received.append, base + i))

    def run_producers() -> None:
        time.sleep(0.1)  # the loop is blocked in poll() with no timers by now
        workers = [threading.Thread(target=producer, args=(k * 1000,)) for k in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        threads_done.set()
        ioloop.add_callback_threadsafe(ioloop.stop)

    thread = threading.Thread(target=run_producers)
    thread.start()
    started = time.monotonic()
    ioloop.start()  # no timers at all: only the wakeup socket can end this
    thread.join()
    assert time.monotonic() - started < 5
    assert threads_done.is_set()
    assert sorted(received) == sorted(k * 1000 + i for k in range(4) for i in range(100))
    # each producer's callbacks ran in the order it added them
    for k in range(4):
        mine = [v for v in received if k * 1000 <= v < (k + 1) * 1000]
        assert mine == sorted(mine)


def test_add_callback_is_add_callback_threadsafe() -> None:
    assert IOLoop.add_callback is IOLoop.add_callback_threadsafe


def test_stop_from_another_thread_wakes_the_loop(ioloop: IOLoop) -> None:
    timer = threading.Timer(0.1, ioloop.stop)
    timer.start()
    started = time.monotonic()
    ioloop.start()
    timer.join()
    assert time.monotonic() - started < 3


def test_stop_before_start_makes_start_return_at_once(ioloop: IOLoop) -> None:
    ran: list[str] = []
    ioloop.stop()
    ioloop.call_later(0, lambda: ran.append("x"))
    ioloop.start()
    assert ran == []
    ioloop.call_later(0.01, ioloop.stop)  # the stop request was consumed
    ioloop.start()
    assert ran == ["x"]


def test_start_is_not_reentrant(ioloop: IOLoop) -> None:
    errors: list[BaseException] = []

    def nested() -> None:
        try:
            ioloop.start()
        except RuntimeError as exc:
            errors.append(exc)
        ioloop.stop()

    ioloop.call_later(0, nested)
    ioloop.start()
    assert len(errors) == 1


def test_handlers_read_write_update_and_remove(ioloop: IOLoop) -> None:
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    events_seen: list[int] = []
    try:
        ioloop.add_handler(left.fileno(), lambda fd, ev: events_seen.append(ev), IOLoop.WRITE)
        spin(ioloop, lambda: bool(events_seen))
        assert events_seen[-1] & IOLoop.WRITE
        assert not events_seen[-1] & IOLoop.READ

        # switch to READ only: nothing until the peer writes
        ioloop.update_handler(left.fileno(), IOLoop.READ)
        events_seen.clear()
        ioloop.call_later(0.05, lambda: None)
        ioloop.poll()
        ioloop.process_timeouts()
        assert events_seen == []
        right.send(b"x")
        spin(ioloop, lambda: bool(events_seen))
        assert events_seen[-1] & IOLoop.READ and not events_seen[-1] & IOLoop.WRITE

        ioloop.remove_handler(left.fileno())
        events_seen.clear()
        ioloop.call_later(0.05, lambda: None)
        ioloop.poll()
        ioloop.process_timeouts()
        assert events_seen == []  # still readable, but no longer watched
        ioloop.remove_handler(left.fileno())  # unknown fd: ignored
    finally:
        left.close()
        right.close()


def test_add_handler_twice_and_update_unknown_fd_are_errors(ioloop: IOLoop) -> None:
    left, right = socket.socketpair()
    try:
        ioloop.add_handler(left.fileno(), lambda fd, ev: None, IOLoop.READ)
        with pytest.raises(ValueError, match="already has a handler"):
            ioloop.add_handler(left.fileno(), lambda fd, ev: None, IOLoop.READ)
        with pytest.raises(ValueError, match="add_handler"):
            ioloop.update_handler(right.fileno(), IOLoop.READ)
        ioloop.remove_handler(left.fileno())
    finally:
        left.close()
        right.close()


def test_peer_close_is_reported_to_a_read_handler(ioloop: IOLoop) -> None:
    left, right = socket.socketpair()
    left.setblocking(False)
    got: list[bytes] = []

    def on_event(fd: int, events: int) -> None:
        got.append(left.recv(10))
        ioloop.remove_handler(fd)

    try:
        ioloop.add_handler(left, on_event, IOLoop.READ)  # objects with fileno() are accepted
        right.close()
        spin(ioloop, lambda: bool(got))
        assert got == [b""]
    finally:
        left.close()


def test_handlers_registered_before_activation_survive_restart(ioloop: IOLoop) -> None:
    left, right = socket.socketpair()
    seen: list[int] = []
    try:

        def on_readable(fd: int, events: int) -> None:
            seen.append(events)
            ioloop.stop()

        ioloop.add_handler(left.fileno(), on_readable, IOLoop.READ)
        right.send(b"ping")
        ioloop.start()  # activates, then deactivates the poller on return
        assert seen and seen[0] & IOLoop.READ
        seen.clear()
        ioloop.start()  # a fresh poller still knows the handler
        assert seen and seen[0] & IOLoop.READ
    finally:
        ioloop.remove_handler(left.fileno())
        left.close()
        right.close()


def test_manual_poll_and_process_timeouts_like_a_blocking_driver(ioloop: IOLoop) -> None:
    ran: list[str] = []
    ioloop.activate_poller()
    ioloop.call_later(0, lambda: ran.append("timer"))
    ioloop.add_callback_threadsafe(lambda: ran.append("callback"))
    ioloop.poll()
    ioloop.process_timeouts()
    assert ran == ["callback", "timer"]
    ioloop.deactivate_poller()


def test_close_releases_the_wakeup_sockets_and_drops_late_callbacks() -> None:
    loop = IOLoop()
    wake_r = loop._wake_r
    loop.close()
    assert wake_r.fileno() == -1
    loop.add_callback_threadsafe(lambda: None)  # dropped with a warning, no exception
    loop.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        loop.start()
