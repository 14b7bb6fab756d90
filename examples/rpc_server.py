"""An RPC server: answers requests on a queue, replying to each request's ``reply_to``.

    python examples/rpc_server.py

Each request body is a whole number n; the reply is the n-th Fibonacci number, sent to the
queue named in the request's ``reply_to`` with the request's ``correlation_id``. With clients
that use direct reply-to (see rpc_client.py) that name is ``amq.rabbitmq.reply-to.<token>``,
which the broker routes straight to the waiting client. Stop it with Ctrl-C.

  AMQP_URL   the broker (default amqp://guest:guest@127.0.0.1:5672/%2F)
  RPC_QUEUE  the request queue (default: rpc_queue)
"""

import os
import sys

import pika_core as pika

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RPC_QUEUE = os.environ.get("RPC_QUEUE", "rpc_queue")


def fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def on_request(channel, method, properties, body):
    try:
        answer = str(fibonacci(int(body)))
    except ValueError:
        answer = f"error: not a whole number: {body!r}"
    channel.basic_publish(
        "",
        properties.reply_to,
        answer,
        properties=pika.BasicProperties(correlation_id=properties.correlation_id),
    )
    channel.basic_ack(method.delivery_tag)


def main():
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_declare(RPC_QUEUE, auto_delete=True)
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(RPC_QUEUE, on_request)
    print(f"waiting for requests on {RPC_QUEUE}", flush=True)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        connection.close()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
