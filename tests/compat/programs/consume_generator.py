#!/usr/bin/env python
"""The consume() generator: inactivity timeout, resuming, cancel, and the end on queue deletion."""

import sys

import pika

queue = sys.argv[1] if len(sys.argv) > 1 else "generated"

connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@localhost:5672/%2F"))
channel = connection.channel()
channel.queue_declare(queue)
channel.basic_qos(prefetch_count=10)
for i in range(5):
    channel.basic_publish("", queue, str(i))

received = []
for method, properties, body in channel.consume(queue, inactivity_timeout=1):
    if method is None:
        break
    received.append(int(body))
    channel.basic_ack(method.delivery_tag)
    if len(received) == 3:
        break  # leave the generator; the consumer stays
assert received == [0, 1, 2], received

# The same arguments resume the same consumer.
for method, properties, body in channel.consume(queue, inactivity_timeout=1):
    if method is None:
        break
    received.append(int(body))
    channel.basic_ack(method.delivery_tag)
assert received == [0, 1, 2, 3, 4], received
print(f" [x] consumed {received}")

channel.basic_publish("", queue, "unread")
for _ in range(20):
    if channel.get_waiting_message_count():
        break
    connection.process_data_events(time_limit=0.5)
assert channel.get_waiting_message_count() == 1
requeued = channel.cancel()
assert requeued == 0, requeued
assert channel.basic_get(queue, auto_ack=True)[2] == b"unread"

# Deleting the queue from another connection cancels the consumer: the generator ends.
other = pika.BlockingConnection(pika.ConnectionParameters("localhost"))
events = []
for method, properties, body in channel.consume(queue, inactivity_timeout=0.3):
    events.append(method)
    if len(events) == 1:
        other.channel().queue_delete(queue)
    if len(events) > 20:
        raise SystemExit("the generator did not end after the queue was deleted")
other.close()
print(f" [x] generator ended after the queue was deleted ({len(events)} timeouts)")
connection.close()
print("consume generator OK")
