#!/usr/bin/env python
"""A task queue: durable queue, persistent tasks, a worker with prefetch 1 and manual acks."""

import sys
import time

import pika

queue = sys.argv[1] if len(sys.argv) > 1 else "task_queue"
tasks = ["first.", "second..", "third.", "fourth...", "fifth."]

params = pika.ConnectionParameters(host="localhost", heartbeat=30)

# new_task: publish the tasks as persistent messages
producer = pika.BlockingConnection(params)
channel = producer.channel()
channel.queue_declare(queue=queue, durable=True)
for task in tasks:
    channel.basic_publish(
        exchange="",
        routing_key=queue,
        body=task,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )
    print(f" [x] Sent {task}")
producer.close()

# worker: one unacked task at a time; the first delivery is rejected once and comes back
worker = pika.BlockingConnection(params)
channel = worker.channel()
channel.queue_declare(queue=queue, durable=True)
channel.basic_qos(prefetch_count=1)

done = []
rejected = []


def callback(ch, method, properties, body):
    task = body.decode()
    assert properties.delivery_mode == 2, properties
    if not rejected:
        rejected.append(task)
        ch.basic_reject(delivery_tag=method.delivery_tag, requeue=True)
        return
    if task == rejected[0]:
        assert method.redelivered, method
    time.sleep(task.count(".") / 100.0)
    done.append(task)
    print(f" [x] Done {task}")
    ch.basic_ack(delivery_tag=method.delivery_tag)
    if len(done) == len(tasks):
        ch.stop_consuming()


channel.basic_consume(queue=queue, on_message_callback=callback)
channel.start_consuming()

assert sorted(done) == sorted(tasks), done
result = channel.queue_declare(queue=queue, durable=True, passive=True)
assert result.method.message_count == 0, result.method
channel.queue_delete(queue=queue)
worker.close()
print("work queue OK")
