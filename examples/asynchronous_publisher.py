"""An asynchronous publisher with publisher confirms, written as pika users write one.

It connects with SelectConnection, declares an exchange and a queue, turns on confirms and
publishes a message every PUBLISH_INTERVAL seconds, keeping track of which messages the broker
acknowledged (by the sequence number pika-core exposes as
``channel.last_publish_sequence_number``). It stops after PUBLISH_COUNT messages once every one
is confirmed, or on Ctrl-C.

    AMQP_URL=amqp://guest:guest@localhost:5672/%2F python examples/asynchronous_publisher.py
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pika_core as pika
from pika_core.adapters.select_connection import SelectConnection
from pika_core.connection import URLParameters
from pika_core.exchange_type import ExchangeType

LOGGER = logging.getLogger("asynchronous_publisher")


class ExamplePublisher:
    """Publishes messages with confirms and reports how many were acked and nacked."""

    EXCHANGE = "message"
    EXCHANGE_TYPE = ExchangeType.topic
    QUEUE = os.environ.get("PUBLISH_QUEUE", "text")
    ROUTING_KEY = "example.text"

    def __init__(self, amqp_url: str, count: int, interval: float) -> None:
        self._url = amqp_url
        self._count = count
        self._interval = interval
        self._connection: SelectConnection | None = None
        self._channel: Any = None
        self._deliveries: dict[int, str] = {}
        self._acked = 0
        self._nacked = 0
        self._message_number = 0
        self._stopping = False

    def connect(self) -> SelectConnection:
        LOGGER.info("Connecting to %s", self._url)
        return SelectConnection(
            URLParameters(self._url),
            on_open_callback=self.on_connection_open,
            on_open_error_callback=self.on_connection_open_error,
            on_close_callback=self.on_connection_closed,
        )

    def on_connection_open(self, _connection: SelectConnection) -> None:
        LOGGER.info("Connection opened")
        assert self._connection is not None
        self._connection.channel(on_open_callback=self.on_channel_open)

    def on_connection_open_error(self, _connection: Any, err: BaseException) -> None:
        LOGGER.error("Connection open failed: %r", err)
        assert self._connection is not None
        self._connection.ioloop.stop()

    def on_connection_closed(self, _connection: Any, reason: BaseException) -> None:
        LOGGER.info("Connection closed: %r", reason)
        self._channel = None
        assert self._connection is not None
        self._connection.ioloop.stop()

    def on_channel_open(self, channel: Any) -> None:
        LOGGER.info("Channel opened")
        self._channel = channel
        channel.add_on_close_callback(self.on_channel_closed)
        channel.exchange_declare(
            exchange=self.EXCHANGE,
            exchange_type=self.EXCHANGE_TYPE,
            callback=self.on_exchange_declareok,
        )

    def on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        LOGGER.warning("Channel %i was closed: %r", channel, reason)
        self._channel = None
        if not self._stopping and self._connection is not None and self._connection.is_open:
            self._connection.close()

    def on_exchange_declareok(self, _frame: Any) -> None:
        self._channel.queue_declare(queue=self.QUEUE, callback=self.on_queue_declareok)

    def on_queue_declareok(self, _frame: Any) -> None:
        self._channel.queue_bind(
            self.QUEUE, self.EXCHANGE, routing_key=self.ROUTING_KEY, callback=self.on_bindok
        )

    def on_bindok(self, _frame: Any) -> None:
        LOGGER.info("Queue bound; enabling delivery confirmations")
        self._channel.confirm_delivery(self.on_delivery_confirmation)
        self.schedule_next_message()

    def on_delivery_confirmation(self, method_frame: Any) -> None:
        method = method_frame.method
        kind = method.NAME.split(".")[1].lower()
        tags = (
            [tag for tag in self._deliveries if tag <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        for tag in tags:
            self._deliveries.pop(tag, None)
            if kind == "ack":
                self._acked += 1
            else:
                self._nacked += 1
        LOGGER.info(
            "Received %s for %s: %d acked, %d nacked, %d waiting",
            kind,
            tags,
            self._acked,
            self._nacked,
            len(self._deliveries),
        )
        self.stop_if_done()

    def schedule_next_message(self) -> None:
        assert self._connection is not None
        self._connection.ioloop.call_later(self._interval, self.publish_message)

    def publish_message(self) -> None:
        if self._channel is None or not self._channel.is_open:
            return
        self._message_number += 1
        message = json.dumps({"number": self._message_number, "text": "hello"})
        properties = pika.spec.BasicProperties(
            app_id="example-publisher", content_type="application/json", headers={"n": 1}
        )
        self._channel.basic_publish(self.EXCHANGE, self.ROUTING_KEY, message, properties)
        self._deliveries[self._channel.last_publish_sequence_number] = message
        LOGGER.info("Published message #%i", self._message_number)
        if self._message_number < self._count:
            self.schedule_next_message()

    def stop_if_done(self) -> None:
        if self._message_number >= self._count and not self._deliveries:
            print(f"published={self._message_number} acked={self._acked} nacked={self._nacked}")
            self.stop()

    def run(self) -> None:
        self._connection = self.connect()
        self._connection.ioloop.start()

    def stop(self) -> None:
        self._stopping = True
        if self._channel is not None and self._channel.is_open:
            self._channel.close()
        if self._connection is not None and self._connection.is_open:
            self._connection.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    publisher = ExamplePublisher(
        os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"),
        count=int(os.environ.get("PUBLISH_COUNT", "10")),
        interval=float(os.environ.get("PUBLISH_INTERVAL", "0.1")),
    )
    try:
        publisher.run()
    except KeyboardInterrupt:
        publisher.stop()


if __name__ == "__main__":
    main()
