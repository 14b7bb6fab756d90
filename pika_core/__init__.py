"""pika-core: a fast, pure-Python AMQP 0-9-1 client for RabbitMQ, a drop-in for pika 1.x."""

import logging

from pika_core._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
