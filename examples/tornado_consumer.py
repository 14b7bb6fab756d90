"""Consume messages with TornadoConnection on tornado's IOLoop.

Usage: python examples/tornado_consumer.py QUEUE COUNT [AMQP_URL]

Declares QUEUE, prints each message body as it arrives, acknowledges it, and closes the
connection after COUNT messages.
"""

import sys

from tornado.ioloop import IOLoop

from pika_core.adapters.tornado_connection import TornadoConnection
from pika_core.connection import URLParameters


def main() -> int:
    queue, count = sys.argv[1], int(sys.argv[2])
    url = sys.argv[3] if len(sys.argv) > 3 else "amqp://guest:guest@127.0.0.1:5672/%2F"
    received = []
    ioloop = IOLoop.current()

    def on_message(channel, method, properties, body):
        print("received", body.decode(), flush=True)
        channel.basic_ack(method.delivery_tag)
        received.append(body)
        if len(received) == count:
            connection.close()

    def on_declared(channel, _frame):
        channel.basic_consume(queue, on_message)
        print("consuming", queue, flush=True)

    def on_channel(channel):
        channel.basic_qos(prefetch_count=10)
        channel.queue_declare(queue, callback=lambda frame: on_declared(channel, frame))

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_close(conn, reason):
        print("closed", repr(reason), flush=True)
        ioloop.stop()

    def on_open_error(conn, error):
        print("could not connect:", repr(error), flush=True)
        ioloop.stop()

    connection = TornadoConnection(
        URLParameters(url),
        on_open_callback=on_open,
        on_open_error_callback=on_open_error,
        on_close_callback=on_close,
        custom_ioloop=ioloop,
    )
    ioloop.start()
    return 0 if len(received) == count else 1


if __name__ == "__main__":
    sys.exit(main())
