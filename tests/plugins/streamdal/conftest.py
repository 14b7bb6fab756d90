"""Fixtures of the pika-streamdal tests: the core's plugin-manager fixture, a clean hook layer."""

from __future__ import annotations

from typing import Iterator

import pytest

from pika_core.testing import pika_plugin_manager  # noqa: F401 - re-exported fixture


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "streamdal: needs the streamdal SDK and its Wasm runtime (offline)"
    )


@pytest.fixture(autouse=True)
def _forget_connections() -> Iterator[None]:
    """Each test starts with no connection or channel state in the hook layer."""
    from pika_streamdal import plugin

    yield
    plugin._connections.clear()
    plugin._channels.clear()
