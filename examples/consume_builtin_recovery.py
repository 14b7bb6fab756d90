"""Consume from a queue with pika-core's built-in recovery: no reconnect loop to write.

The same consumer as consume_recover.py, with ``?recovery=on`` instead of the loop: when the
connection is lost (a network fault, ``rabbitmqctl close_connection``, a node restart) the
connection and channel objects stay, the library reconnects with backoff, re-declares the
queue, restores the prefetch and re-registers the consumer with the same tag and callback,
and ``start_consuming()`` simply goes on. Callbacks report what happened.

  AMQP_URL         the broker (default amqp://guest:guest@127.0.0.1:5672/%2F)
  QUEUE            the queue to consume from (default: recover_demo), declared durable
  CONNECTION_NAME  shown in the management UI and ``rabbitmqctl list_connections``

What it does not hide: a refused login, a broker close other than 320 CONNECTION_FORCED, a
channel error, or a recovery that gave up (``recovery_max_attempts``) still end
start_consuming() with the exception; docs/recovery.md lists the guarantees.
"""

import os
import sys

import pika_core as pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
QUEUE = os.environ.get("QUEUE", "recover_demo")
CONNECTION_NAME = os.environ.get("CONNECTION_NAME", "consume_builtin_recovery example")


def on_message(channel, method, properties, body):
    print(f"received {body.decode()} (redelivered={method.redelivered})", flush=True)
    channel.basic_ack(method.delivery_tag)


def main():
    separator = "&" if "?" in AMQP_URL else "?"
    parameters = pika.URLParameters(
        f"{AMQP_URL}{separator}recovery=on&recovery_initial_delay=0.5&recovery_max_delay=10"
    )
    parameters.client_properties = {"connection_name": CONNECTION_NAME}
    connection = pika.BlockingConnection(parameters)
    connection.add_on_recovery_started_callback(
        lambda conn, cause: print(f"connection lost: {cause!r}; recovering", flush=True)
    )
    connection.add_on_recovered_callback(
        lambda conn, attempts, seconds: print(
            f"recovered after {attempts} attempt(s) in {seconds:.2f} s", flush=True
        )
    )
    print("connected", flush=True)
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True)
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(QUEUE, on_message)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        if connection.is_open:
            connection.close()
        print("stopped", flush=True)
        return 0
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("stopped", flush=True)
