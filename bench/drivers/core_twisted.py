"""pika-core's TwistedProtocolConnection (the pika-twisted plugin), driven by the same code as
pika's."""

from __future__ import annotations

from typing import Any

from bench.drivers import Client

CLIENT = Client("pika-core-twisted", "pika-core TwistedProtocolConnection", 15, "pika-core")


def driver() -> Any:
    import pika_core
    from bench.drivers.twisted_api import TwistedDriver

    return TwistedDriver(pika_core)
