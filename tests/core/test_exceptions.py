"""The exception hierarchy of pika 1.4 (pika-api.md 2.10), attributes and reprs."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from pika_core import exceptions as exc

# class -> its direct bases, exactly as in pika 1.4 (plus pika-core's additions).
BASES = {
    exc.AMQPError: (Exception,),
    exc.AMQPConnectionError: (exc.AMQPError,),
    exc.ConnectionOpenAborted: (exc.AMQPConnectionError,),
    exc.StreamLostError: (exc.AMQPConnectionError,),
    exc.IncompatibleProtocolError: (exc.AMQPConnectionError,),
    exc.AuthenticationError: (exc.AMQPConnectionError,),
    exc.ProbableAuthenticationError: (exc.AMQPConnectionError,),
    exc.ProbableAccessDeniedError: (exc.AMQPConnectionError,),
    exc.NoFreeChannels: (exc.AMQPConnectionError,),
    exc.ConnectionWrongStateError: (exc.AMQPConnectionError,),
    exc.ConnectionBlockedTimeout: (exc.AMQPConnectionError,),
    exc.AMQPHeartbeatTimeout: (exc.AMQPConnectionError,),
    exc.WorkQueueFullError: (exc.AMQPConnectionError,),
    exc.ConnectionClosed: (exc.AMQPConnectionError,),
    exc.ConnectionClosedByBroker: (exc.ConnectionClosed,),
    exc.ConnectionClosedByClient: (exc.ConnectionClosed,),
    exc.AMQPChannelError: (exc.AMQPError,),
    exc.ChannelWrongStateError: (exc.AMQPChannelError,),
    exc.DuplicateConsumerTag: (exc.AMQPChannelError,),
    exc.ConsumerCancelled: (exc.AMQPChannelError,),
    exc.UnroutableError: (exc.AMQPChannelError,),
    exc.NackError: (exc.AMQPChannelError,),
    exc.ChannelClosed: (exc.AMQPChannelError,),
    exc.ChannelClosedByBroker: (exc.ChannelClosed,),
    exc.ChannelClosedByClient: (exc.ChannelClosed,),
    exc.InvalidChannelNumber: (exc.AMQPError,),
    exc.MethodNotImplemented: (exc.AMQPError,),
    exc.ShortStringTooLong: (exc.AMQPError,),
    exc.ProtocolSyntaxError: (exc.AMQPError,),
    exc.UnexpectedFrameError: (exc.ProtocolSyntaxError,),
    exc.ProtocolVersionMismatch: (exc.ProtocolSyntaxError,),
    exc.BodyTooLongError: (exc.ProtocolSyntaxError,),
    exc.InvalidFrameError: (exc.ProtocolSyntaxError,),
    exc.InvalidFieldTypeException: (exc.ProtocolSyntaxError,),
    exc.UnsupportedAMQPFieldException: (exc.ProtocolSyntaxError,),
    exc.ChannelError: (Exception,),
    exc.DuplicateGetOkCallback: (exc.ChannelError,),
    exc.ReentrancyError: (Exception,),
    exc.FrameError: (exc.AMQPConnectionError, exc.InvalidFrameError),
}


@pytest.mark.parametrize("cls", list(BASES), ids=lambda cls: cls.__name__)
def test_direct_bases(cls: type) -> None:
    assert cls.__bases__ == BASES[cls]


def test_every_exported_exception_is_checked() -> None:
    exported = {getattr(exc, name) for name in exc.__all__}
    assert exported == set(BASES)


@pytest.mark.parametrize("cls", [exc.ChannelError, exc.ReentrancyError, exc.DuplicateGetOkCallback])
def test_not_amqp_errors_as_in_pika(cls: type) -> None:
    assert not issubclass(cls, exc.AMQPError)


CLOSED = [
    exc.ConnectionClosed,
    exc.ConnectionClosedByBroker,
    exc.ConnectionClosedByClient,
    exc.ChannelClosed,
    exc.ChannelClosedByBroker,
    exc.ChannelClosedByClient,
]


@pytest.mark.parametrize("cls", CLOSED, ids=lambda cls: cls.__name__)
def test_reply_code_and_text(cls: Any) -> None:
    error = cls("404", "NOT_FOUND - no queue 'q'")
    assert error.reply_code == 404
    assert error.reply_text == "NOT_FOUND - no queue 'q'"
    assert error.args == (404, "NOT_FOUND - no queue 'q'")
    assert repr(error) == f"{cls.__name__}: (404) \"NOT_FOUND - no queue 'q'\""


@pytest.mark.parametrize("cls", CLOSED, ids=lambda cls: cls.__name__)
def test_closed_errors_pickle(cls: Any) -> None:
    error = pickle.loads(pickle.dumps(cls(320, "CONNECTION_FORCED")))
    assert type(error) is cls
    assert (error.reply_code, error.reply_text) == (320, "CONNECTION_FORCED")


@pytest.mark.parametrize("cls", [exc.UnroutableError, exc.NackError])
def test_messages_attribute(cls: Any) -> None:
    messages = [("method", "props", b"body1"), ("method", "props", b"body2")]
    error = cls(messages)
    assert error.messages == messages
    assert repr(error) == f"{cls.__name__}: 2 unroutable messages returned by broker"
    assert "2" in str(error)


@pytest.mark.parametrize("cls", [exc.UnroutableError, exc.NackError])
def test_messages_survive_pickle_and_copy(cls: Any) -> None:
    error = cls([("m", "p", b"b")])
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is cls
        assert clone.messages == [("m", "p", b"b")]


def test_unroutable_and_nack_texts() -> None:
    assert str(exc.UnroutableError([1])) == "1 unroutable message(s) returned"
    assert str(exc.NackError([1, 2])) == "2 message(s) NACKed"


def test_frame_error_is_caught_by_both_pika_clauses() -> None:
    with pytest.raises(exc.AMQPConnectionError):
        raise exc.FrameError(501, "bad frame end")
    with pytest.raises(exc.InvalidFrameError):
        raise exc.FrameError(501, "bad frame end")
    with pytest.raises(exc.ProtocolSyntaxError):
        raise exc.FrameError(502, "x")


def test_frame_error_fields_and_repr() -> None:
    error = exc.FrameError(505, "body before header")
    assert (error.reply_code, error.reply_text) == (505, "body before header")
    assert repr(error) == "FrameError: (505) body before header"
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.reply_code, clone.reply_text) == (505, "body before header")


REPRS: list[tuple[BaseException, str]] = [
    (exc.AMQPError("x"), "AMQPError: An unspecified AMQP error has occurred; ('x',)"),
    (exc.AMQPConnectionError(1, "two"), "AMQPConnectionError: (1) two"),
    (exc.AMQPConnectionError("only"), "AMQPConnectionError: ('only',)"),
    (exc.StreamLostError("reset"), "StreamLostError: ('reset',)"),
    (
        exc.IncompatibleProtocolError("x"),
        "IncompatibleProtocolError: The protocol returned by the server is not supported: ('x',)",
    ),
    (
        exc.AuthenticationError("PLAIN"),
        (
            "AuthenticationError: Server and client could not negotiate use of the PLAIN "
            "authentication mechanism"
        ),
    ),
    (
        exc.ProbableAuthenticationError(403, "ACCESS_REFUSED"),
        (
            "ProbableAuthenticationError: Client was disconnected at a connection stage indicating "
            "a probable authentication error: (403, 'ACCESS_REFUSED')"
        ),
    ),
    (
        exc.ProbableAccessDeniedError(530, "NOT_ALLOWED"),
        (
            "ProbableAccessDeniedError: Client was disconnected at a connection stage indicating "
            "a probable denial of access to the specified virtual host: (530, 'NOT_ALLOWED')"
        ),
    ),
    (exc.NoFreeChannels(), "NoFreeChannels: The connection has run out of free channels"),
    (
        exc.ConnectionWrongStateError(),
        "ConnectionWrongStateError: The connection is in wrong state for the requested operation.",
    ),
    (exc.ConnectionWrongStateError("closed"), "ConnectionWrongStateError: ('closed',)"),
    (exc.ChannelWrongStateError("closed"), "ChannelWrongStateError: ('closed',)"),
    (
        exc.DuplicateConsumerTag("ctag1"),
        "DuplicateConsumerTag: The consumer tag specified already exists for this channel: ctag1",
    ),
    (exc.ConsumerCancelled(), "ConsumerCancelled: Server cancelled consumer"),
    (
        exc.InvalidChannelNumber(70000),
        "InvalidChannelNumber: An invalid channel number has been specified: 70000",
    ),
    (
        exc.ProtocolSyntaxError(),
        "ProtocolSyntaxError: An unspecified protocol syntax error occurred",
    ),
    (
        exc.UnexpectedFrameError("frame"),
        "UnexpectedFrameError: Received a frame out of sequence: 'frame'",
    ),
    (exc.InvalidFrameError("junk"), "InvalidFrameError: Invalid frame received: ('junk',)"),
    (exc.InvalidFieldTypeException("Z"), "InvalidFieldTypeException: Unsupported field kind Z"),
    (exc.ChannelError(), "ChannelError: An unspecified error occurred with the Channel"),
    (
        exc.DuplicateGetOkCallback(),
        (
            "DuplicateGetOkCallback: basic_get can only be called again after the callback for the "
            "previous basic_get is executed"
        ),
    ),
]


@pytest.mark.parametrize(("error", "text"), REPRS, ids=lambda value: type(value).__name__)
def test_reprs(error: BaseException, text: str) -> None:
    assert repr(error) == text


def test_short_string_repr_is_bounded() -> None:
    error = exc.ShortStringTooLong("k" * 10_000)
    text = repr(error)
    assert text.startswith(
        "ShortStringTooLong: AMQP Short String can contain up to 255 bytes: 'kkk"
    )
    assert len(text) < 400


def test_reprs_without_arguments_do_not_fail() -> None:
    for cls in BASES:
        if cls in CLOSED or cls in (exc.FrameError, exc.UnroutableError, exc.NackError):
            continue
        assert cls.__name__ in repr(cls())
