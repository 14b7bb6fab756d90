"""Fixtures shared by every test tree, and the rule for tests that need the RabbitMQ broker.

A test marked ``@pytest.mark.broker`` needs a broker at ``amqp_url`` (127.0.0.1:5672 unless
PIKA_CORE_TEST_URL says otherwise). When the broker is unreachable the test is skipped on a
developer's machine, but fails when CI or PIKA_CORE_REQUIRE_BROKER is set, so that CI can never
go green by skipping the broker tests. Each broker test is recorded in the JUnit report with the
property ``broker``, which .ci/run counts.
"""

from __future__ import annotations

import os
import socket
import urllib.parse

import pytest

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

START_BROKER_HINT = (
    "start one with ./scripts/ensure_broker.sh (as root it installs and starts RabbitMQ), "
    "or `sudo rabbitmq-server -detached`, or point PIKA_CORE_TEST_URL at a broker of yours"
)

_reachability: dict[tuple[str, int], str | None] = {}


def _amqp_url() -> str:
    return os.environ.get("PIKA_CORE_TEST_URL") or DEFAULT_AMQP_URL


def _broker_address(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    default_port = 5671 if parts.scheme == "amqps" else 5672
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _broker_unreachable_reason(address: tuple[str, int]) -> str | None:
    """None when a TCP connection to the broker opens, else why not (checked once per address)."""
    if address not in _reachability:
        try:
            with socket.create_connection(address, timeout=3.0):
                _reachability[address] = None
        except OSError as exc:
            _reachability[address] = f"{exc.__class__.__name__}: {exc}"
    return _reachability[address]


def _broker_required() -> bool:
    return any(os.environ.get(name) for name in ("CI", "PIKA_CORE_REQUIRE_BROKER"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag every broker test in the JUnit report so that .ci/run can count the ones that passed."""
    for item in items:
        if item.get_closest_marker("broker") is not None:
            item.user_properties.append(("broker", "true"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip, or in CI fail, a broker test when the broker cannot be reached."""
    if item.get_closest_marker("broker") is None:
        return
    host, port = _broker_address(_amqp_url())
    reason = _broker_unreachable_reason((host, port))
    if reason is None:
        return
    message = f"no AMQP broker at {host}:{port} ({reason}); {START_BROKER_HINT}"
    if _broker_required():
        pytest.fail(
            f"{message} [broker tests never skip when CI or PIKA_CORE_REQUIRE_BROKER is set]"
        )
    pytest.skip(message)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The broker the broker tests use; PIKA_CORE_TEST_URL overrides the local guest broker."""
    return _amqp_url()
