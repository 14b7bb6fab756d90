"""Consume messages with GeventConnection in a monkey-patched gevent program.

Usage: python examples/gevent_consumer.py QUEUE COUNT [AMQP_URL]

Declares QUEUE, prints each message body as it arrives, acknowledges it, and closes the
connection after COUNT messages. Callbacks run in a greenlet of the connection's loop, so a
callback may use gevent-patched blocking calls (here gevent.sleep) without stalling the hub.
"""

from gevent import monkey

monkey.patch_all()

import sys

import gevent

from pika_core.adapters.gevent_connection import GeventConnection
from pika_core.connection import URLParameters


def main() -> int:
    queue, count = sys.argv[1], int(sys.argv[2])
    url = sys.argv[3] if len(sys.argv) > 3 else "amqp://guest:guest@127.0.0.1:5672/%2F"
    received = []

    def on_message(channel, method, properties, body):
        gevent.sleep(0)  # a blocking gevent call is fine in a callback
        print("received", body.decode(), flush=True)
        channel.basic_ack(method.delivery_tag)
        received.append(body)
        if len(received) == count:
            connection.close()

    def on_declared(channel, _frame):
        channel.basic_consume(queue, lambda *args: on_message(*args))
        print("consuming", queue, flush=True)

    def on_channel(channel):
        channel.basic_qos(prefetch_count=10)
        channel.queue_declare(queue, callback=lambda frame: on_declared(channel, frame))

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_close(conn, reason):
        print("closed", repr(reason), flush=True)
        conn.ioloop.stop()

    def on_open_error(conn, error):
        print("could not connect:", repr(error), flush=True)
        conn.ioloop.stop()

    connection = GeventConnection(
        URLParameters(url),
        on_open_callback=on_open,
        on_open_error_callback=on_open_error,
        on_close_callback=on_close,
    )
    connection.ioloop.start()
    return 0 if len(received) == count else 1


if __name__ == "__main__":
    sys.exit(main())
