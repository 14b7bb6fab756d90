#!/usr/bin/env python
"""Topics: routing keys matched against * (one word) and # (zero or more words)."""

import sys

import pika

exchange = sys.argv[1] if len(sys.argv) > 1 else "topic_logs"

connection = pika.BlockingConnection(pika.ConnectionParameters(host="localhost"))
channel = connection.channel()
channel.exchange_declare(exchange=exchange, exchange_type="topic")

patterns = {"kern": ["kern.*"], "critical": ["*.critical"], "all": ["#"], "deep": ["cron.#"]}
queues = {}
for name, keys in patterns.items():
    queue_name = channel.queue_declare("", exclusive=True).method.queue
    for key in keys:
        channel.queue_bind(queue_name, exchange, routing_key=key)
    queues[name] = queue_name

keys = ["kern.critical", "kern.info", "cron.critical", "cron.daily.report", "auth.warning"]
for key in keys:
    channel.basic_publish(exchange, key, f"message for {key}")

expected = {
    "kern": ["kern.critical", "kern.info"],
    "critical": ["kern.critical", "cron.critical"],
    "all": keys,
    "deep": ["cron.critical", "cron.daily.report"],
}
for name, queue_name in queues.items():
    got = []
    for method, properties, body in channel.consume(queue_name, inactivity_timeout=2):
        if method is None:
            break
        got.append(method.routing_key)
        assert body == f"message for {method.routing_key}".encode()
        channel.basic_ack(method.delivery_tag)
        if len(got) == len(expected[name]):
            break
    channel.cancel()
    assert got == expected[name], (name, got)
    print(f" [x] {name}: {len(got)}")

channel.exchange_delete(exchange)
connection.close()
print("topics OK")
