"""An RPC client using RabbitMQ's direct reply-to: no reply queue to declare or clean up.

    python examples/rpc_client.py N [N ...]

The client consumes from the pseudo-queue ``amq.rabbitmq.reply-to`` (with auto_ack, as the
broker requires) before it publishes, and sets ``reply_to='amq.rabbitmq.reply-to'`` on each
request; the broker rewrites it to a name that routes the reply straight back to this channel.
``correlation_id`` pairs each reply with its request. Start rpc_server.py first.

  AMQP_URL   the broker (default amqp://guest:guest@127.0.0.1:5672/%2F)
  RPC_QUEUE  the server's request queue (default: rpc_queue)
"""

import os
import sys
import time
import uuid

import pika_core as pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RPC_QUEUE = os.environ.get("RPC_QUEUE", "rpc_queue")
REPLY_TO = "amq.rabbitmq.reply-to"


class FibonacciClient:
    """Sends one request at a time and waits for its reply."""

    def __init__(self, connection):
        self.connection = connection
        self.channel = connection.channel()
        self.replies = {}
        self.channel.basic_consume(REPLY_TO, self.on_reply, auto_ack=True)

    def on_reply(self, channel, method, properties, body):
        self.replies[properties.correlation_id] = body.decode()

    def call(self, n, timeout=10.0):
        correlation_id = uuid.uuid4().hex
        self.channel.basic_publish(
            "",
            RPC_QUEUE,
            str(n),
            properties=pika.BasicProperties(reply_to=REPLY_TO, correlation_id=correlation_id),
        )
        deadline = time.monotonic() + timeout
        while correlation_id not in self.replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply to fib({n}) within {timeout} s; is rpc_server.py up?")
            self.connection.process_data_events(time_limit=left)
        return self.replies.pop(correlation_id)


def main():
    numbers = [int(arg) for arg in sys.argv[1:]] or [10]
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        client = FibonacciClient(connection)
        for n in numbers:
            started = time.perf_counter()
            answer = client.call(n)
            took = (time.perf_counter() - started) * 1000
            print(f"fib({n}) = {answer}  ({took:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
