#!/usr/bin/env python
"""RPC client (the tutorial's FibonacciRpcClient) with an exclusive callback queue."""

import sys
import uuid

import pika


class FibonacciRpcClient:
    def __init__(self, queue):
        self.queue = queue
        self.connection = pika.BlockingConnection(pika.ConnectionParameters(host="localhost"))
        self.channel = self.connection.channel()

        result = self.channel.queue_declare(queue="", exclusive=True)
        self.callback_queue = result.method.queue

        self.channel.basic_consume(
            queue=self.callback_queue, on_message_callback=self.on_response, auto_ack=True
        )

        self.response = None
        self.corr_id = None

    def on_response(self, ch, method, props, body):
        if self.corr_id == props.correlation_id:
            self.response = body

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key=self.queue,
            properties=pika.BasicProperties(
                reply_to=self.callback_queue, correlation_id=self.corr_id
            ),
            body=str(n),
        )
        self.connection.process_data_events(time_limit=None)
        while self.response is None:
            self.connection.process_data_events(time_limit=1)
        return int(self.response)


queue = sys.argv[1] if len(sys.argv) > 1 else "rpc_queue"
fib_rpc = FibonacciRpcClient(queue)
for n in [5, 10, 20]:
    print(f" [x] Requesting fib({n})")
    response = fib_rpc.call(n)
    print(f" [.] Got {response}")
fib_rpc.connection.close()
