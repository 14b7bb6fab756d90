#!/usr/bin/env python
"""Routing: a direct exchange delivers by exact routing key (log severities)."""

import sys

import pika

exchange = sys.argv[1] if len(sys.argv) > 1 else "direct_logs"

connection = pika.BlockingConnection(pika.ConnectionParameters(host="localhost"))
channel = connection.channel()
channel.exchange_declare(exchange=exchange, exchange_type=pika.exchange_type.ExchangeType.direct)

bindings = {"errors_only": ["error"], "everything": ["info", "warning", "error"]}
queues = {}
for name, severities in bindings.items():
    queue_name = channel.queue_declare(queue="", exclusive=True).method.queue
    for severity in severities:
        channel.queue_bind(exchange=exchange, queue=queue_name, routing_key=severity)
    queues[name] = queue_name

for severity, text in [
    ("info", "a"),
    ("error", "b"),
    ("warning", "c"),
    ("debug", "d"),
    ("error", "e"),
]:
    channel.basic_publish(exchange=exchange, routing_key=severity, body=text)

expected = {
    "errors_only": ["error:b", "error:e"],
    "everything": ["info:a", "error:b", "warning:c", "error:e"],
}
for name, queue_name in queues.items():
    got = []
    while len(got) < len(expected[name]):
        method, properties, body = channel.basic_get(queue=queue_name, auto_ack=True)
        if method is None:
            connection.sleep(0.05)
            continue
        got.append(f"{method.routing_key}:{body.decode()}")
    assert got == expected[name], (name, got)
    assert channel.basic_get(queue=queue_name) == (None, None, None)
    print(f" [x] {name}: {got}")

channel.exchange_delete(exchange=exchange)
connection.close()
print("direct OK")
