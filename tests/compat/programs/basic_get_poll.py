#!/usr/bin/env python
"""Polling with basic_get: empty replies, message_count, ack and reject."""

import sys

import pika

queue = sys.argv[1] if len(sys.argv) > 1 else "polled"

credentials = pika.PlainCredentials("guest", "guest")
parameters = pika.ConnectionParameters("localhost", 5672, "/", credentials)
with pika.BlockingConnection(parameters) as connection:
    channel = connection.channel()
    channel.queue_declare(queue=queue)
    channel.queue_purge(queue=queue)

    method_frame, header_frame, body = channel.basic_get(queue)
    assert (method_frame, header_frame, body) == (None, None, None)
    print(" [x] empty queue: no message")

    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish(
            "",
            queue,
            f"job {i}",
            pika.BasicProperties(content_type="text/plain", headers={"attempt": i}),
        )

    method_frame, header_frame, body = channel.basic_get(queue)
    assert isinstance(method_frame, pika.spec.Basic.GetOk), method_frame
    assert method_frame.message_count == 2, method_frame
    assert header_frame.content_type == "text/plain" and header_frame.headers == {"attempt": 0}
    assert body == b"job 0"
    channel.basic_reject(method_frame.delivery_tag, requeue=True)

    seen = []
    while True:
        method_frame, header_frame, body = channel.basic_get(queue)
        if method_frame is None:
            break
        seen.append((body.decode(), method_frame.redelivered))
        channel.basic_ack(method_frame.delivery_tag)
    assert sorted(seen) == [("job 0", True), ("job 1", False), ("job 2", False)], seen
    print(f" [x] polled {len(seen)} messages")
    channel.queue_delete(queue)
print("basic_get OK")
