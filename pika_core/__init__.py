"""pika-core: a fast, pure-Python AMQP 0-9-1 client for RabbitMQ, a drop-in for pika 1.x.

``import pika_core as pika`` gives pika's namespace. The light modules (codec, parameters,
credentials, exceptions) are imported at once; the adapters and pika's other submodules are
imported on first use, so that importing the package pulls in no I/O framework.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from pika_core import data, exceptions, frame, spec
from pika_core._version import __version__
from pika_core.credentials import PlainCredentials
from pika_core.delivery_mode import DeliveryMode
from pika_core.exchange_type import ExchangeType
from pika_core.parameters import ConnectionParameters, SSLOptions, URLParameters
from pika_core.spec import BasicProperties

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AMQPConnectionWorkflow",
    "AsyncioConnection",
    "BaseConnection",
    "BasicProperties",
    "BlockingConnection",
    "Connection",
    "ConnectionParameters",
    "DeliveryMode",
    "ExchangeType",
    "PlainCredentials",
    "RecoveryPolicy",
    "SSLOptions",
    "SelectConnection",
    "URLParameters",
    "__version__",
    "adapters",
    "data",
    "exceptions",
    "frame",
    "spec",
]

# Exported name -> (module, attribute or None for the module itself).
_LAZY = {
    "AMQPConnectionWorkflow": (
        "pika_core.adapters.utils.connection_workflow",
        "AMQPConnectionWorkflow",
    ),
    "AsyncioConnection": ("pika_core.adapters.asyncio_connection", "AsyncioConnection"),
    "BaseConnection": ("pika_core.adapters.base_connection", "BaseConnection"),
    "BlockingConnection": ("pika_core.adapters.blocking_connection", "BlockingConnection"),
    "Connection": ("pika_core.connection", "Connection"),
    "RecoveryPolicy": ("pika_core.recovery", "RecoveryPolicy"),
    "SelectConnection": ("pika_core.adapters.select_connection", "SelectConnection"),
    "adapters": ("pika_core.adapters", None),
    "amqp_object": ("pika_core.amqp_object", None),
    "callback": ("pika_core.callback", None),
    "channel": ("pika_core.channel", None),
    "compat": ("pika_core.compat", None),
    "connection": ("pika_core.connection", None),
    "credentials": ("pika_core.credentials", None),
    "delivery_mode": ("pika_core.delivery_mode", None),
    "exchange_type": ("pika_core.exchange_type", None),
    "validators": ("pika_core.validators", None),
}


def __getattr__(name: str) -> Any:
    """Import an adapter or one of pika's submodules on first access."""
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = target
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_LAZY))
