"""Publish messages with pipelined publisher confirms and find out exactly which ones failed.

    python examples/blocking_publisher.py [COUNT]

pika's confirm mode waits for the broker after every publish. ``confirm_delivery(pipelined=True)``
lets publishes go out back to back: each returns a PublishHandle, and ``wait_for_confirms()``
waits for all of them and raises NackError or UnroutableError whose ``messages`` are exactly the
publishes that failed (each keeps its exchange, routing key, properties and body, so it can be
sent again). ``max_outstanding`` bounds how many wait for their confirm at once.

  AMQP_URL  the broker (default amqp://guest:guest@127.0.0.1:5672/%2F)
  QUEUE     the queue to publish to (default: example_queue), declared durable
"""

import os
import sys

import pika_core as pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
QUEUE = os.environ.get("QUEUE", "example_queue")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        channel = connection.channel()
        channel.queue_declare(QUEUE, durable=True)
        channel.confirm_delivery(pipelined=True, max_outstanding=1000)
        persistent = pika.BasicProperties(
            content_type="text/plain", delivery_mode=pika.DeliveryMode.Persistent
        )
        for number in range(count):
            # mandatory=True: a message no queue takes comes back as UnroutableError.
            channel.basic_publish(
                "", QUEUE, f"message {number}", properties=persistent, mandatory=True
            )
        try:
            channel.wait_for_confirms(timeout=30)
        except pika.exceptions.UnroutableError as error:
            print(f"{len(error.messages)} messages could not be routed", file=sys.stderr)
            return 1
        except pika.exceptions.NackError as error:
            for handle in error.messages:
                print(f"nacked: {handle.body!r}", file=sys.stderr)
            return 1
        print(f"published {count} messages to {QUEUE}, all confirmed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
