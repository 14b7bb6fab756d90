#!/usr/bin/env python
import sys

import pika

queue = sys.argv[1] if len(sys.argv) > 1 else "hello"

connection = pika.BlockingConnection(pika.ConnectionParameters("localhost"))
channel = connection.channel()

channel.queue_declare(queue=queue)


def callback(ch, method, properties, body):
    print(f" [x] Received {body.decode()}")
    ch.stop_consuming()


channel.basic_consume(queue=queue, on_message_callback=callback, auto_ack=True)

print(" [*] Waiting for messages.")
channel.start_consuming()
channel.queue_delete(queue=queue)
connection.close()
