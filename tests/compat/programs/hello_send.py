#!/usr/bin/env python
import sys

import pika

queue = sys.argv[1] if len(sys.argv) > 1 else "hello"

connection = pika.BlockingConnection(pika.ConnectionParameters(host="localhost"))
channel = connection.channel()

channel.queue_declare(queue=queue)

channel.basic_publish(exchange="", routing_key=queue, body="Hello World!")
print(" [x] Sent 'Hello World!'")
connection.close()
