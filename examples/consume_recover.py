"""Consume from a queue and reconnect after a lost connection: the plain-loop recovery pattern.

Run it, publish to the queue, and kill the connection (for instance with
``rabbitmqctl close_connection``): it connects again and goes on consuming.

  AMQP_URL         the broker (default amqp://guest:guest@127.0.0.1:5672/%2F)
  QUEUE            the queue to consume from (default: recover_demo), declared durable
  CONNECTION_NAME  shown in the management UI and ``rabbitmqctl list_connections``

The rules of the loop:
- a connection that fails or is lost (AMQPConnectionError) is opened again after a pause;
- a broker that closes the connection with 320 CONNECTION_FORCED (an operator's
  ``close_connection``, a node shutting down) is the same kind of transient fault: reconnect;
- a broker that closes it for any other reason (403 access refused, 530 not allowed, ...) or a
  channel error (AMQPChannelError: a missing queue, an exclusive queue in use) will not fix
  itself by retrying: stop and report it;
- Ctrl-C stops cleanly.
"""

import os
import sys
import time

import pika_core as pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
QUEUE = os.environ.get("QUEUE", "recover_demo")
CONNECTION_NAME = os.environ.get("CONNECTION_NAME", "consume_recover example")
RECONNECT_DELAY = float(os.environ.get("RECONNECT_DELAY", "1.0"))

CONNECTION_FORCED = 320


def on_message(channel, method, properties, body):
    print(f"received {body.decode()} (redelivered={method.redelivered})", flush=True)
    channel.basic_ack(method.delivery_tag)


def main():
    parameters = pika.URLParameters(AMQP_URL)
    parameters.client_properties = {"connection_name": CONNECTION_NAME}
    attempt = 0
    while True:
        attempt += 1
        try:
            connection = pika.BlockingConnection(parameters)
        except pika.exceptions.AMQPConnectionError as error:
            print(f"connect attempt {attempt} failed: {error!r}; retrying", flush=True)
            time.sleep(RECONNECT_DELAY)
            continue
        print(f"connected (attempt {attempt})", flush=True)
        try:
            channel = connection.channel()
            channel.queue_declare(QUEUE, durable=True)
            channel.basic_qos(prefetch_count=10)
            channel.basic_consume(QUEUE, on_message)
            channel.start_consuming()
        except pika.exceptions.ConnectionClosedByBroker as error:
            if error.reply_code != CONNECTION_FORCED:
                print(f"the broker closed the connection: {error!r}; stopping", flush=True)
                return 1
            print(f"the broker forced the connection closed: {error!r}; reconnecting", flush=True)
        except pika.exceptions.AMQPChannelError as error:
            print(f"channel error: {error!r}; stopping", flush=True)
            return 1
        except pika.exceptions.AMQPConnectionError as error:
            print(f"connection lost: {error!r}; reconnecting", flush=True)
        except KeyboardInterrupt:
            if connection.is_open:
                connection.close()
            print("stopped", flush=True)
            return 0
        time.sleep(RECONNECT_DELAY)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while connecting or waiting to reconnect
        print("stopped", flush=True)
