"""GeventConnection runs the asynchronous scenario suite of tests/core/async_ unchanged.

Without monkey-patching here; tests/plugins/gevent/test_gevent_monkey.py runs the same suite
in a subprocess that calls ``gevent.monkey.patch_all()`` first.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from async_suite import load_suite, scenario_tests
from pika_gevent import GeventConnection, GeventIOLoop

suite_conftest, _scenarios = load_suite()

pytestmark = pytest.mark.broker


class GeventDriver(suite_conftest.Driver):  # type: ignore[misc, name-defined]
    """GeventConnection on a GeventIOLoop over the thread's hub."""

    name = "gevent"
    connection_class = GeventConnection

    def new_loop(self) -> GeventIOLoop:
        return GeventIOLoop()

    def run(self, loop: GeventIOLoop) -> None:
        loop.start()

    def stop(self, loop: GeventIOLoop) -> None:
        loop.stop()

    def call_later(self, loop: GeventIOLoop, delay: float, callback: Callable[[], Any]) -> Any:
        return loop.call_later(delay, callback)

    def cancel(self, loop: GeventIOLoop, handle: Any) -> None:
        loop.remove_timeout(handle)

    def call_threadsafe(self, loop: GeventIOLoop, callback: Callable[[], Any]) -> None:
        loop.add_callback_threadsafe(callback)

    def close(self, loop: GeventIOLoop) -> None:
        loop.close()


@pytest.fixture
def harness(amqp_url: str) -> Iterator[Any]:
    """The suite's Harness on the gevent driver."""
    h = suite_conftest.Harness(GeventDriver(), amqp_url)
    try:
        yield h
    finally:
        h.teardown()


globals().update(scenario_tests())
