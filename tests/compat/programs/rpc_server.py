#!/usr/bin/env python
"""RPC server (the tutorial's fib service); answers `count` requests, then exits."""

import sys

import pika

queue = sys.argv[1] if len(sys.argv) > 1 else "rpc_queue"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 3

connection = pika.BlockingConnection(pika.ConnectionParameters(host="localhost"))
channel = connection.channel()
channel.queue_declare(queue=queue)


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


answered = 0


def on_request(ch, method, props, body):
    global answered
    n = int(body)
    print(f" [.] fib({n})", flush=True)
    ch.basic_publish(
        exchange="",
        routing_key=props.reply_to,
        properties=pika.BasicProperties(correlation_id=props.correlation_id),
        body=str(fib(n)),
    )
    ch.basic_ack(delivery_tag=method.delivery_tag)
    answered += 1
    if answered == count:
        ch.stop_consuming()


channel.basic_qos(prefetch_count=1)
channel.basic_consume(queue=queue, on_message_callback=on_request)
print(" [x] Awaiting RPC requests", flush=True)
channel.start_consuming()
channel.queue_delete(queue=queue)
connection.close()
