"""TornadoConnection runs the asynchronous scenario suite of tests/core/async_ unchanged."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterator

import pytest
from tornado.ioloop import IOLoop

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from async_suite import load_suite, scenario_tests
from pika_tornado import TornadoConnection

suite_conftest, _scenarios = load_suite()

pytestmark = pytest.mark.broker


class TornadoDriver(suite_conftest.Driver):  # type: ignore[misc, name-defined]
    """TornadoConnection on a fresh tornado IOLoop (a new asyncio loop underneath)."""

    name = "tornado"
    connection_class = TornadoConnection

    def new_loop(self) -> IOLoop:
        return IOLoop(make_current=False)

    def run(self, loop: IOLoop) -> None:
        loop.start()

    def stop(self, loop: IOLoop) -> None:
        loop.stop()

    def call_later(self, loop: IOLoop, delay: float, callback: Callable[[], Any]) -> Any:
        return loop.call_later(delay, callback)

    def cancel(self, loop: IOLoop, handle: Any) -> None:
        loop.remove_timeout(handle)

    def call_threadsafe(self, loop: IOLoop, callback: Callable[[], Any]) -> None:
        loop.add_callback(callback)

    def close(self, loop: IOLoop) -> None:
        loop.close()


@pytest.fixture
def harness(amqp_url: str) -> Iterator[Any]:
    """The suite's Harness on the tornado driver."""
    h = suite_conftest.Harness(TornadoDriver(), amqp_url)
    try:
        yield h
    finally:
        h.teardown()


globals().update(scenario_tests())
