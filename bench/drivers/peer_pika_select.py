"""pika's SelectConnection."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-select", "pika SelectConnection", 21, "peer")


def driver() -> Any:
    import pika  # type: ignore[import-untyped]

    from bench.drivers.pika_callback_api import CallbackDriver

    return CallbackDriver(pika, "select_connection", "SelectConnection")
