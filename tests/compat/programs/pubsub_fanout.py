#!/usr/bin/env python
"""Publish/subscribe: every subscriber's exclusive queue gets every message of a fanout exchange."""

import sys

import pika

exchange = sys.argv[1] if len(sys.argv) > 1 else "logs"

connection = pika.BlockingConnection(pika.ConnectionParameters(host="localhost"))
channel = connection.channel()
channel.exchange_declare(exchange=exchange, exchange_type="fanout")

subscribers = []
for _ in range(2):
    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue
    assert queue_name.startswith("amq.gen-"), queue_name
    channel.queue_bind(exchange=exchange, queue=queue_name)
    subscribers.append(queue_name)

messages = ["info: one", "warning: two", "error: three"]
for message in messages:
    channel.basic_publish(exchange=exchange, routing_key="", body=message)

for queue_name in subscribers:
    received = []
    for method, properties, body in channel.consume(
        queue_name, auto_ack=True, inactivity_timeout=5
    ):
        if method is None:
            break
        received.append(body.decode())
        if len(received) == len(messages):
            break
    channel.cancel()
    assert received == messages, (queue_name, received)
    print(f" [x] {queue_name} got {len(received)} messages")

channel.exchange_delete(exchange=exchange)
connection.close()
print("fanout OK")
