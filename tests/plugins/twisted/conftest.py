"""The twisted reactor for the tests: one reactor, run on a thread for the whole session.

A reactor cannot be restarted, so each test hands a Deferred-returning function to
``run_on_reactor`` (the ``reactor_run`` fixture), which calls it on the reactor's thread and
blocks the test until the Deferred fires, with a timeout that fails the test instead of hanging.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest
from twisted.internet import defer, threads


@pytest.fixture(scope="session")
def reactor() -> Iterator[Any]:
    """The global reactor, running on a daemon thread."""
    from twisted.internet import reactor as global_reactor

    thread = threading.Thread(
        target=global_reactor.run,
        kwargs={"installSignalHandlers": False},
        name="twisted-reactor",
        daemon=True,
    )
    thread.start()
    yield global_reactor
    global_reactor.callFromThread(global_reactor.stop)
    thread.join(10)


@pytest.fixture
def reactor_run(reactor: Any) -> Callable[..., Any]:
    """``reactor_run(function, *args, timeout=30)``: run a Deferred-returning function there."""

    def run(function: Callable[..., Any], *args: Any, timeout: float = 30.0) -> Any:
        def start() -> defer.Deferred[Any]:
            d = defer.maybeDeferred(function, *args)
            d.addTimeout(timeout, reactor)
            return d

        return threads.blockingCallFromThread(reactor, start)

    return run
