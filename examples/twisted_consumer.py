"""Consume messages with TwistedProtocolConnection, the Deferred way.

Usage: python examples/twisted_consumer.py QUEUE COUNT [AMQP_URL]

Declares QUEUE, prints each message body as it arrives, acknowledges it, and closes the
connection after COUNT messages.
"""

import sys

from twisted.internet import defer, protocol, reactor, task

from pika_core.adapters.twisted_connection import TwistedProtocolConnection
from pika_core.connection import URLParameters


@defer.inlineCallbacks
def consume(_reactor, queue, count, url):
    parameters = URLParameters(url)
    creator = protocol.ClientCreator(reactor, TwistedProtocolConnection, parameters)
    proto = yield creator.connectTCP(parameters.host, parameters.port)
    connection = yield proto.ready
    channel = yield connection.channel()
    yield channel.queue_declare(queue)
    yield channel.basic_qos(prefetch_count=10)
    messages, _consumer_tag = yield channel.basic_consume(queue)
    print("consuming", queue, flush=True)
    for _ in range(count):
        message = yield messages.get()
        print("received", message.body.decode(), flush=True)
        channel.basic_ack(message.method.delivery_tag)
    reason = yield connection.close()
    print("closed", repr(reason), flush=True)


def main():
    queue, count = sys.argv[1], int(sys.argv[2])
    url = sys.argv[3] if len(sys.argv) > 3 else "amqp://guest:guest@127.0.0.1:5672/%2F"
    task.react(consume, (queue, count, url))


if __name__ == "__main__":
    main()
