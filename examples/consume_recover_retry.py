"""Consume from a queue and reconnect after a lost connection, with the ``retry`` decorator.

The same rules as consume_recover.py, with the waiting between attempts left to the ``retry``
package (``pip install retry``): the first retry waits RETRY_DELAY seconds, each later one
``backoff`` times longer plus a random jitter, capped at ``max_delay``. The jitter keeps a fleet
of consumers that lost the same broker from all coming back in the same instant.

  AMQP_URL         the broker (default amqp://guest:guest@127.0.0.1:5672/%2F)
  QUEUE            the queue to consume from (default: recover_demo), declared durable
  CONNECTION_NAME  shown in the management UI and ``rabbitmqctl list_connections``
  RETRY_DELAY      seconds before the first retry (default 1)
"""

import logging
import os
import sys

from retry import retry

import pika_core as pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
QUEUE = os.environ.get("QUEUE", "recover_demo")
CONNECTION_NAME = os.environ.get("CONNECTION_NAME", "consume_recover_retry example")
RETRY_DELAY = float(os.environ.get("RETRY_DELAY", "1.0"))

CONNECTION_FORCED = 320

LOGGER = logging.getLogger("consume_recover_retry")


def on_message(channel, method, properties, body):
    print(f"received {body.decode()} (redelivered={method.redelivered})", flush=True)
    channel.basic_ack(method.delivery_tag)


# Every AMQPConnectionError raised inside consume() (a refused connection, a lost one, a
# ConnectionClosedByBroker re-raised below) makes retry() wait and call consume() again.
@retry(
    pika.exceptions.AMQPConnectionError,
    delay=RETRY_DELAY,
    backoff=2,
    max_delay=30,
    jitter=(0, 1),
    logger=LOGGER,
)
def consume():
    parameters = pika.URLParameters(AMQP_URL)
    parameters.client_properties = {"connection_name": CONNECTION_NAME}
    connection = pika.BlockingConnection(parameters)
    print("connected", flush=True)
    channel = connection.channel()
    channel.queue_declare(QUEUE, durable=True)
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(QUEUE, on_message)
    try:
        channel.start_consuming()
    except pika.exceptions.ConnectionClosedByBroker as error:
        if error.reply_code == CONNECTION_FORCED:
            raise  # an operator or a node shutdown closed it: transient, let retry() reconnect
        print(f"the broker closed the connection: {error!r}; stopping", flush=True)
        return 1
    except pika.exceptions.AMQPChannelError as error:
        print(f"channel error: {error!r}; stopping", flush=True)
        return 1
    except KeyboardInterrupt:
        if connection.is_open:
            connection.close()
        print("stopped", flush=True)
        return 0
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        sys.exit(consume())
    except KeyboardInterrupt:  # Ctrl-C while connecting or waiting to retry
        print("stopped", flush=True)
