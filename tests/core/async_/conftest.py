"""Fixtures of the asynchronous scenario suite: one ``harness`` per (test, adapter driver)."""

from __future__ import annotations

import functools
import os
import sys
import urllib.parse
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

from drivers import Driver, available_drivers

from pika_core.connection import URLParameters

DRIVERS = available_drivers()


class Harness:
    """Runs one scenario on one adapter: callbacks record failures and stop the loop."""

    def __init__(self, driver: Driver, url: str) -> None:
        self.driver = driver
        self.url = url
        self.loop = driver.new_loop()
        self.errors: list[BaseException] = []
        self.timed_out = False
        self.connections: list[Any] = []
        self.close_reasons: list[BaseException] = []
        self._finishing = False

    def params(self, **overrides: Any) -> URLParameters:
        """Parameters for the test broker, with attributes overridden."""
        params = URLParameters(self.url)
        for name, value in overrides.items():
            setattr(params, name, value)
        return params

    def cb(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a callback so that an exception (a failed assert) ends the test with it."""

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported by run()
                self.errors.append(exc)
                self.stop()
                return None

        return wrapper

    def connect(self, on_open: Callable[[Any], Any], **overrides: Any) -> Any:
        """Open a connection to the broker; ``on_open(connection)`` runs when it is open."""

        def on_open_error(_conn: Any, exc: BaseException) -> None:
            self.errors.append(AssertionError(f"connection failed to open: {exc!r}"))
            self.stop()

        def on_close(_conn: Any, exc: BaseException) -> None:
            self.close_reasons.append(exc)
            if self._finishing and all(c.is_closed for c in self.connections):
                self.stop()

        conn = self.driver.connect(
            self.loop,
            self.params(**overrides),
            on_open_callback=self.cb(on_open),
            on_open_error_callback=on_open_error,
            on_close_callback=on_close,
        )
        self.connections.append(conn)
        return conn

    def later(self, delay: float, function: Callable[[], Any]) -> Any:
        """Run ``function`` after ``delay`` seconds on the loop."""
        return self.driver.call_later(self.loop, delay, self.cb(function))

    def stop(self) -> None:
        """End run() (loop thread)."""
        self.driver.stop(self.loop)

    def finish(self) -> None:
        """Close every open connection, then end run()."""
        self._finishing = True
        if all(c.is_closed for c in self.connections):
            self.stop()
        for conn in self.connections:
            if conn.is_open:
                conn.close()

    def run(self, timeout: float = 20.0) -> None:
        """Run the loop until stop()/finish(); raise what a callback raised, fail on timeout."""

        def watchdog() -> None:
            self.timed_out = True
            self.stop()

        timer = self.driver.call_later(self.loop, timeout, watchdog)
        self.driver.run(self.loop)
        self.driver.cancel(self.loop, timer)
        if self.errors:
            raise self.errors[0]
        assert not self.timed_out, f"scenario did not finish within {timeout} s on {self.driver}"

    def teardown(self) -> None:
        """Close what a failed test left open, then the loop."""
        if any(c.is_open for c in self.connections):
            self.errors.clear()
            self._finishing = True
            for conn in self.connections:
                if conn.is_open:
                    conn.close()
            timer = self.driver.call_later(self.loop, 5, self.stop)
            self.driver.run(self.loop)
            self.driver.cancel(self.loop, timer)
        self.driver.close(self.loop)


@pytest.fixture(params=DRIVERS, ids=[d.name for d in DRIVERS])
def driver(request: pytest.FixtureRequest) -> Driver:
    """Each adapter (and each poller of the select adapter)."""
    result: Driver = request.param
    return result


@pytest.fixture
def harness(driver: Driver, amqp_url: str) -> Iterator[Harness]:
    """A Harness for the test broker on ``driver``."""
    h = Harness(driver, amqp_url)
    try:
        yield h
    finally:
        h.teardown()


def broker_host_port(url: str) -> tuple[str, int]:
    """Host and port of an amqp:// URL."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5672
