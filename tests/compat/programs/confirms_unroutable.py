#!/usr/bin/env python
"""Publisher confirms: routable messages are confirmed, unroutable mandatory ones raise."""

import sys

import pika
from pika.exceptions import ChannelClosedByBroker, UnroutableError

queue = sys.argv[1] if len(sys.argv) > 1 else "confirmed"

connection = pika.BlockingConnection(pika.ConnectionParameters("localhost"))
channel = connection.channel()
channel.queue_declare(queue=queue, auto_delete=True)
channel.confirm_delivery()

for i in range(10):
    channel.basic_publish("", queue, f"message {i}", mandatory=True)
print(" [x] 10 messages confirmed")

try:
    channel.basic_publish("", queue + ".nowhere", "lost", mandatory=True)
except UnroutableError as error:
    returned = error.messages[0]
    assert returned.method.reply_code == 312, returned.method
    assert returned.method.routing_key == queue + ".nowhere"
    assert returned.body == b"lost"
    print(f" [!] unroutable: {returned.method.reply_text}")
else:
    raise SystemExit("the unroutable message was not reported")

# Without mandatory the broker confirms an unroutable message and drops it.
channel.basic_publish("", queue + ".nowhere", "dropped")
assert channel.queue_declare(queue, passive=True, auto_delete=True).method.message_count == 10

try:
    channel.basic_publish("no-such-exchange-" + queue, "x", "body")
except ChannelClosedByBroker as error:
    assert error.reply_code == 404, error
    print(f" [!] channel closed: {error.reply_code} {error.reply_text}")
else:
    raise SystemExit("publishing to a missing exchange did not close the channel")
assert channel.is_closed

channel = connection.channel()
channel.queue_delete(queue)
connection.close()
print("confirms OK")
