"""An asynchronous consumer that reconnects when its connection drops (pika's pattern).

The consumer runs on SelectConnection. When the connection closes unexpectedly, its
``on_close_callback`` stops the I/O loop and the outer loop creates a new consumer after a
back-off, so a broker restart or ``rabbitmqctl close_connection`` costs a few seconds, not
the process. Messages are acknowledged after they are handled.

    AMQP_URL=amqp://guest:guest@localhost:5672/%2F python examples/asynchronous_consumer_reconnect.py

MESSAGE_LIMIT (optional) makes it exit after that many messages, for tests.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from pika_core.adapters.select_connection import SelectConnection
from pika_core.connection import URLParameters
from pika_core.exchange_type import ExchangeType

LOGGER = logging.getLogger("asynchronous_consumer_reconnect")


class ExampleConsumer:
    """Consumes from QUEUE; tells the caller whether to reconnect once it stops."""

    EXCHANGE = "message"
    EXCHANGE_TYPE = ExchangeType.topic
    QUEUE = os.environ.get("CONSUME_QUEUE", "text")
    ROUTING_KEY = "example.text"

    def __init__(self, amqp_url: str, message_limit: int, received: int) -> None:
        self.should_reconnect = False
        self.was_consuming = False
        self.received = received
        self._message_limit = message_limit
        self._url = amqp_url
        self._connection: SelectConnection | None = None
        self._channel: Any = None
        self._closing = False
        self._consumer_tag: str | None = None
        self._consuming = False
        self._prefetch_count = 1

    def connect(self) -> SelectConnection:
        LOGGER.info("Connecting to %s", self._url)
        return SelectConnection(
            URLParameters(self._url),
            on_open_callback=self.on_connection_open,
            on_open_error_callback=self.on_connection_open_error,
            on_close_callback=self.on_connection_closed,
        )

    def close_connection(self) -> None:
        self._consuming = False
        assert self._connection is not None
        if self._connection.is_closing or self._connection.is_closed:
            LOGGER.info("Connection is closing or already closed")
        else:
            LOGGER.info("Closing connection")
            self._connection.close()

    def on_connection_open(self, _connection: Any) -> None:
        print("Connection opened", flush=True)
        assert self._connection is not None
        self._connection.channel(on_open_callback=self.on_channel_open)

    def on_connection_open_error(self, _connection: Any, err: BaseException) -> None:
        LOGGER.error("Connection open failed: %r", err)
        self.reconnect()

    def on_connection_closed(self, _connection: Any, reason: BaseException) -> None:
        self._channel = None
        if self._closing:
            assert self._connection is not None
            self._connection.ioloop.stop()
        else:
            print(f"Connection closed, reconnect necessary: {reason!r}", flush=True)
            self.reconnect()

    def reconnect(self) -> None:
        self.should_reconnect = True
        self.stop()

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
        self.close_connection()

    def on_exchange_declareok(self, _frame: Any) -> None:
        self._channel.queue_declare(queue=self.QUEUE, callback=self.on_queue_declareok)

    def on_queue_declareok(self, _frame: Any) -> None:
        self._channel.queue_bind(
            self.QUEUE, self.EXCHANGE, routing_key=self.ROUTING_KEY, callback=self.on_bindok
        )

    def on_bindok(self, _frame: Any) -> None:
        self._channel.basic_qos(prefetch_count=self._prefetch_count, callback=self.on_basic_qos_ok)

    def on_basic_qos_ok(self, _frame: Any) -> None:
        self._channel.add_on_cancel_callback(self.on_consumer_cancelled)
        self._consumer_tag = self._channel.basic_consume(self.QUEUE, self.on_message)
        self.was_consuming = True
        self._consuming = True
        print("Consuming", flush=True)

    def on_consumer_cancelled(self, method_frame: Any) -> None:
        LOGGER.info("Consumer was cancelled remotely, shutting down: %r", method_frame)
        if self._channel is not None:
            self._channel.close()

    def on_message(self, channel: Any, basic_deliver: Any, properties: Any, body: bytes) -> None:
        self.received += 1
        print(f"Received message {self.received}: {body.decode()}", flush=True)
        channel.basic_ack(basic_deliver.delivery_tag)
        if self._message_limit and self.received >= self._message_limit:
            self.should_reconnect = False
            self.stop()

    def stop_consuming(self) -> None:
        if self._channel is not None and self._channel.is_open:
            LOGGER.info("Sending a Basic.Cancel RPC command to RabbitMQ")
            self._channel.basic_cancel(self._consumer_tag, self.on_cancelok)
        else:
            self.close_connection()

    def on_cancelok(self, _frame: Any) -> None:
        self._consuming = False
        LOGGER.info("RabbitMQ acknowledged the cancellation of the consumer")
        self._channel.close()

    def run(self) -> None:
        self._connection = self.connect()
        self._connection.ioloop.start()

    def stop(self) -> None:
        if self._closing:
            return
        self._closing = True
        assert self._connection is not None
        if self._consuming:
            self.stop_consuming()
        elif self._connection.is_closed:
            self._connection.ioloop.stop()
        else:
            self.close_connection()


class ReconnectingExampleConsumer:
    """Runs ExampleConsumer again after a back-off whenever it asks to reconnect."""

    def __init__(self, amqp_url: str, message_limit: int) -> None:
        self._reconnect_delay = 0
        self._amqp_url = amqp_url
        self._message_limit = message_limit
        self._consumer = ExampleConsumer(amqp_url, message_limit, 0)

    def run(self) -> None:
        while True:
            try:
                self._consumer.run()
            except KeyboardInterrupt:
                self._consumer.stop()
                break
            if not self._consumer.should_reconnect:
                break
            self._maybe_reconnect()

    def _maybe_reconnect(self) -> None:
        self._consumer.stop()
        delay = self._get_reconnect_delay()
        LOGGER.info("Reconnecting after %d seconds", delay)
        time.sleep(delay)
        self._consumer = ExampleConsumer(
            self._amqp_url, self._message_limit, self._consumer.received
        )

    def _get_reconnect_delay(self) -> int:
        if self._consumer.was_consuming:
            self._reconnect_delay = 0
        else:
            self._reconnect_delay += 1
        self._reconnect_delay = min(self._reconnect_delay, 30)
        return self._reconnect_delay


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F")
    consumer = ReconnectingExampleConsumer(amqp_url, int(os.environ.get("MESSAGE_LIMIT", "0")))
    consumer.run()


if __name__ == "__main__":
    main()
