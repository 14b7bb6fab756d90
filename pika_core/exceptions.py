"""The exception hierarchy, name for name and base for base the same as pika 1.x.

Exceptions that pika-core adds subclass the nearest pika class, so that an
``except`` clause written for pika still catches them.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = [
    "AMQPChannelError",
    "AMQPConnectionError",
    "AMQPError",
    "AMQPHeartbeatTimeout",
    "AuthenticationError",
    "BodyTooLongError",
    "ChannelClosed",
    "ChannelClosedByBroker",
    "ChannelClosedByClient",
    "ChannelError",
    "ChannelWrongStateError",
    "ConnectionBlockedTimeout",
    "ConnectionClosed",
    "ConnectionClosedByBroker",
    "ConnectionClosedByClient",
    "ConnectionOpenAborted",
    "ConnectionWrongStateError",
    "ConsumerCancelled",
    "DuplicateConsumerTag",
    "DuplicateGetOkCallback",
    "FrameError",
    "IncompatibleProtocolError",
    "InvalidChannelNumber",
    "InvalidFieldTypeException",
    "InvalidFrameError",
    "MethodNotImplemented",
    "NackError",
    "NoFreeChannels",
    "ProbableAccessDeniedError",
    "ProbableAuthenticationError",
    "ProtocolSyntaxError",
    "ProtocolVersionMismatch",
    "ReentrancyError",
    "ShortStringTooLong",
    "StreamLostError",
    "UnexpectedFrameError",
    "UnroutableError",
    "UnsupportedAMQPFieldException",
    "WorkQueueFullError",
]


class AMQPError(Exception):
    """Base of every error pika-core raises about AMQP."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: An unspecified AMQP error has occurred; {self.args}"


class AMQPConnectionError(AMQPError):
    """The connection could not be opened, or it failed."""

    def __repr__(self) -> str:
        if len(self.args) == 2:
            return f"{self.__class__.__name__}: ({self.args[0]}) {self.args[1]}"
        return f"{self.__class__.__name__}: {self.args}"


class ConnectionOpenAborted(AMQPConnectionError):
    """Client closed the connection while it was still being opened."""


class StreamLostError(AMQPConnectionError):
    """The TCP/TLS stream was lost (reset, EOF, or a socket error)."""


class IncompatibleProtocolError(AMQPConnectionError):
    """The peer does not speak AMQP 0-9-1."""

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}: The protocol returned by the server is not "
            f"supported: {self.args}"
        )


class AuthenticationError(AMQPConnectionError):
    """The server offered no authentication mechanism the credentials support."""

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}: Server and client could not negotiate use of "
            f"the {self.args[0] if self.args else '?'} authentication mechanism"
        )


class ProbableAuthenticationError(AMQPConnectionError):
    """The server closed the connection during login: most likely bad credentials."""

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}: Client was disconnected at a connection stage "
            f"indicating a probable authentication error: {self.args}"
        )


class ProbableAccessDeniedError(AMQPConnectionError):
    """The server closed the connection at connection.open: most likely no vhost access."""

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}: Client was disconnected at a connection stage "
            f"indicating a probable denial of access to the specified virtual host: {self.args}"
        )


class NoFreeChannels(AMQPConnectionError):
    """Every channel number up to channel_max is in use."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: The connection has run out of free channels"


class ConnectionWrongStateError(AMQPConnectionError):
    """The connection is in the wrong state for the requested operation."""

    def __repr__(self) -> str:
        if self.args:
            return super().__repr__()
        return f"{self.__class__.__name__}: The connection is in wrong state for the requested operation."


class ConnectionClosed(AMQPConnectionError):
    """The connection is closed; ``reply_code`` and ``reply_text`` say why."""

    def __init__(self, reply_code: int, reply_text: str) -> None:
        super().__init__(int(reply_code), str(reply_text))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: ({self.reply_code}) {self.reply_text!r}"

    @property
    def reply_code(self) -> int:
        """The AMQP reply code (200 for a normal shutdown)."""
        code: int = self.args[0]
        return code

    @property
    def reply_text(self) -> str:
        """The reply text that came with the close."""
        text: str = self.args[1]
        return text


class ConnectionClosedByBroker(ConnectionClosed):
    """The broker closed the connection (connection.close from the server)."""


class ConnectionClosedByClient(ConnectionClosed):
    """This client closed the connection."""


class ConnectionBlockedTimeout(AMQPConnectionError):
    """The connection stayed blocked longer than blocked_connection_timeout."""


class AMQPHeartbeatTimeout(AMQPConnectionError):
    """Nothing was received from the peer for two heartbeat intervals."""


class WorkQueueFullError(AMQPConnectionError):
    """The outbound buffer is over its high-water mark and the caller asked not to wait."""


class AMQPChannelError(AMQPError):
    """Base of channel-level errors."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: {self.args!r}"


class ChannelWrongStateError(AMQPChannelError):
    """The channel is in the wrong state for the requested operation."""


class ChannelClosed(AMQPChannelError):
    """The channel is closed; ``reply_code`` and ``reply_text`` say why."""

    def __init__(self, reply_code: int, reply_text: str) -> None:
        super().__init__(int(reply_code), str(reply_text))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: ({self.reply_code}) {self.reply_text!r}"

    @property
    def reply_code(self) -> int:
        """The AMQP reply code (for example 404 NOT_FOUND, 406 PRECONDITION_FAILED)."""
        code: int = self.args[0]
        return code

    @property
    def reply_text(self) -> str:
        """The reply text that came with the close."""
        text: str = self.args[1]
        return text


class ChannelClosedByBroker(ChannelClosed):
    """The broker closed the channel (channel.close from the server)."""


class ChannelClosedByClient(ChannelClosed):
    """This client closed the channel."""


class DuplicateConsumerTag(AMQPChannelError):
    """The consumer tag is already in use on this channel."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: The consumer tag specified already exists for this channel: {self.args[0] if self.args else ''}"


class ConsumerCancelled(AMQPChannelError):
    """The server cancelled the consumer (for example because its queue was deleted)."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: Server cancelled consumer"


class UnroutableError(AMQPChannelError):
    """Messages published with mandatory=True were returned as unroutable."""

    def __init__(self, messages: Sequence[Any]) -> None:
        super().__init__(f"{len(messages)} unroutable message(s) returned")
        self.messages: list[Any] = list(messages)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the messages, not from the text in args (pickle, copy).
        return (self.__class__, (self.messages,))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: {len(self.messages)} unroutable messages returned by broker"


class NackError(AMQPChannelError):
    """Messages were negatively acknowledged (basic.nack) by the broker."""

    def __init__(self, messages: Sequence[Any]) -> None:
        super().__init__(f"{len(messages)} message(s) NACKed")
        self.messages: list[Any] = list(messages)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the messages, not from the text in args (pickle, copy).
        return (self.__class__, (self.messages,))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: {len(self.messages)} unroutable messages returned by broker"


class InvalidChannelNumber(AMQPError):
    """The channel number is out of range or already in use."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: An invalid channel number has been specified: {self.args[0] if self.args else ''}"


class ProtocolSyntaxError(AMQPError):
    """The peer sent something that is not valid AMQP 0-9-1."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: An unspecified protocol syntax error occurred"


class UnexpectedFrameError(ProtocolSyntaxError):
    """A frame arrived that is not valid in the current state."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: Received a frame out of sequence: {self.args[0] if self.args else ''!r}"


class ProtocolVersionMismatch(ProtocolSyntaxError):
    """The peer answered with a different protocol version."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: Protocol versions did not match: {self.args}"


class BodyTooLongError(ProtocolSyntaxError):
    """More body bytes arrived than the content header announced."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: Received too many bytes for a message delivery: {self.args}"


class InvalidFrameError(ProtocolSyntaxError):
    """The frame is malformed."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: Invalid frame received: {self.args!r}"


class InvalidFieldTypeException(ProtocolSyntaxError):
    """A field table holds a type tag this client does not know."""

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}: Unsupported field kind {self.args[0] if self.args else ''}"
        )


class UnsupportedAMQPFieldException(ProtocolSyntaxError):
    """A value cannot be encoded as an AMQP field."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: Unsupported AMQP field kind {self.args}"


class MethodNotImplemented(AMQPError):
    """The broker does not implement the requested method or capability."""


class ChannelError(Exception):
    """Base of errors raised by channel-level bookkeeping (not an AMQPError, as in pika)."""

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: An unspecified error occurred with the Channel"


class ReentrancyError(Exception):
    """A blocking method was called from inside a callback it would dispatch."""


class ShortStringTooLong(AMQPError):
    """A short string (or table key) is longer than 255 bytes once UTF-8 encoded."""

    def __repr__(self) -> str:
        value = repr(self.args[0]) if self.args else "''"
        # Bounded like pika's (%.300s): the offending string may be huge.
        return f"{self.__class__.__name__}: AMQP Short String can contain up to 255 bytes: {value:.300}"


class DuplicateGetOkCallback(ChannelError):
    """basic_get was called while another basic_get on the channel is still pending."""

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}: basic_get can only be called again after the "
            f"callback for the previous basic_get is executed"
        )


class FrameError(AMQPConnectionError, InvalidFrameError):
    """Malformed or out-of-sequence input from the peer.

    Every malformed byte sequence becomes this one exception (never a raw
    ``struct.error``, ``KeyError`` or ``RecursionError``). ``reply_code`` is the
    AMQP hard-error code the client sends in connection.close: 501 FRAME_ERROR,
    502 SYNTAX_ERROR, 503 COMMAND_INVALID, 504 CHANNEL_ERROR, 505 UNEXPECTED_FRAME
    or 540 NOT_IMPLEMENTED. It is both an AMQPConnectionError and pika's
    InvalidFrameError, so either ``except`` clause catches it.
    """

    def __init__(self, reply_code: int, reply_text: str) -> None:
        super().__init__(reply_code, reply_text)

    @property
    def reply_code(self) -> int:
        """The AMQP reply code sent to the peer in connection.close."""
        code: int = self.args[0]
        return code

    @property
    def reply_text(self) -> str:
        """What was wrong with the input."""
        text: str = self.args[1]
        return text

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}: ({self.reply_code}) {self.reply_text}"
