"""Consume messages with the ``consume()`` generator, acknowledging them in batches.

    python examples/blocking_consumer.py [IDLE_SECONDS]

It stops once no message has arrived for IDLE_SECONDS (default 2): ``inactivity_timeout`` makes
the generator yield ``(None, None, None)`` when the queue has been quiet that long. Acks go out
with ``multiple=True`` once per batch, and once more for whatever is left at the end.

  AMQP_URL  the broker (default amqp://guest:guest@127.0.0.1:5672/%2F)
  QUEUE     the queue to consume from (default: example_queue), declared durable
"""

import os
import sys

import pika_core as pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
QUEUE = os.environ.get("QUEUE", "example_queue")
BATCH = 50


def main():
    idle = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    received = 0
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        channel = connection.channel()
        channel.queue_declare(QUEUE, durable=True)
        channel.basic_qos(prefetch_count=BATCH * 2)
        last_tag = 0
        for method, properties, body in channel.consume(QUEUE, inactivity_timeout=idle):
            if method is None:  # quiet for `idle` seconds
                break
            received += 1
            last_tag = method.delivery_tag
            if received % BATCH == 0:
                channel.basic_ack(last_tag, multiple=True)
        if received % BATCH:
            channel.basic_ack(last_tag, multiple=True)
        channel.cancel()  # ends the generator's consumer
    print(f"consumed {received} messages from {QUEUE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
