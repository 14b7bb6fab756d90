"""AMQP 0-9-1 frames: pika-compatible frame objects, the incremental reader and the writers.

Frame layout: type (u8), channel (u16), size (u32), ``size`` payload bytes, frame-end 0xCE.
The reader and the writers are on the per-message path, so they use precompiled structs,
plain tuples and as few intermediate objects as possible.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Generic, Tuple, TypeVar

from pika_core import amqp_object, spec
from pika_core.exceptions import FrameError, IncompatibleProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE_CAP",
    "HEARTBEAT_FRAME",
    "PUBLISH_CACHE_SIZE",
    "Body",
    "Frame",
    "FrameReader",
    "Header",
    "Heartbeat",
    "Method",
    "ProtocolHeader",
    "RawFrame",
    "decode_frame",
    "decode_header",
    "decode_method",
    "encode_header",
    "encode_method",
    "encode_publish",
]

#: One inbound frame as the reader returns it: (frame_type, channel, payload).
RawFrame = Tuple[int, int, bytes]

_FRAME_METHOD = 1
_FRAME_HEADER = 2
_FRAME_BODY = 3
_FRAME_HEARTBEAT = 8
_FRAME_END = 0xCE
_FRAME_END_BYTES = b"\xce"
_FRAME_MIN_SIZE = 4096
_BASIC_CLASS_ID = 60

#: Largest frame (header and frame-end included) accepted when frame_max is 0 ("no limit").
DEFAULT_MAX_FRAME_SIZE_CAP = 128 * 1024 * 1024 + 8

#: How many distinct (channel, exchange, routing_key, mandatory) method frames are cached.
PUBLISH_CACHE_SIZE = 1024

#: A heartbeat frame, ready to send.
HEARTBEAT_FRAME = b"\x08\x00\x00\x00\x00\x00\x00\xce"

# type, channel, size
_FRAME_HEADER_STRUCT = struct.Struct(">BHI")
# type, channel, size, method index
_METHOD_PREFIX = struct.Struct(">BHII")
# type, channel, size, class id, weight, body size
_CONTENT_HEADER_PREFIX = struct.Struct(">BHIHHQ")
# header frame-end, then the next body frame's type, channel and size
_END_THEN_BODY = struct.Struct(">BBHI")
# a whole content header frame with no properties, its frame-end and the body frame prefix
_EMPTY_HEADER_THEN_BODY = struct.Struct(">BHIHHQHBBHI")
# a whole content header frame with no properties and its frame-end
_EMPTY_HEADER = struct.Struct(">BHIHHQHB")
# class id, weight, body size at the start of a content header payload
_CONTENT_HEADER_PAYLOAD = struct.Struct(">HHQ")
# class id, weight, body size and the first property flags word of a content header payload
_CONTENT_HEADER_FLAGS = struct.Struct(">HHQH")
_PROTOCOL_HEADER = struct.Struct(">4sBBBB")
# a content header frame's type, channel, size, then its class id, weight, body size and flags
_HEADER_FRAME_FLAGS = struct.Struct(">BHIHHQH")
# the class and method ids of basic.deliver, as they open its method payload
_DELIVER_ID = b"\x00\x3c\x00\x3c"
# Body frames at least this big come out of FrameReader as memoryviews of the bytes fed (no
# copy); the protocol joins a message's parts once, or makes bytes of a single part. A view
# keeps the whole read it came from alive: with reads of 256 KiB, at most 4x the bytes of the
# messages still being assembled.
_BODY_VIEW_MIN = 65536
# Basic's property decoders by flags word (filled by spec on first sight of each word).
_BASIC_DECODERS = spec._BASIC_PROPERTIES_DECODERS
_basic_decoder = spec.BasicProperties._decoder
_Deliver = spec.Basic.Deliver
_new_object = object.__new__
_DELIVERY_TAG_BITS = struct.Struct(">QB")
# Decoded strings of recent basic.deliver payloads, by their raw bytes: consumer tags, and the
# exchange and routing key together (the payload's tail). Only what the generated decoder
# accepted is stored; each map is emptied when it reaches _DELIVER_CACHE_SIZE.
_DELIVER_CACHE_SIZE = 512
_consumer_tags: dict[bytes, str] = {}
_deliver_tails: dict[bytes, tuple[str, str]] = {}


def _unpack_deliver(buf: bytes, offset: int, end: int) -> Any:
    """Decode basic.deliver's arguments at ``buf[offset:end]`` (after the method id).

    The strings of a payload seen before come from a cache keyed by their raw bytes; anything
    else goes through the generated decoder, which validates it and feeds the cache.
    """
    stop = offset + 1 + buf[offset]
    if stop + 9 <= end:
        tag = _consumer_tags.get(buf[offset + 1 : stop])
        tail = _deliver_tails.get(buf[stop + 9 : end])
        if tag is not None and tail is not None:
            obj = _new_object(_Deliver)
            obj.consumer_tag = tag
            obj.delivery_tag, bits = _DELIVERY_TAG_BITS.unpack_from(buf, stop)
            obj.redelivered = (bits & 1) != 0
            obj.exchange, obj.routing_key = tail
            return obj
    method: Any = _Deliver._unpack(buf, offset, end)  # raises FrameError for a bad payload
    if len(_consumer_tags) >= _DELIVER_CACHE_SIZE:
        _consumer_tags.clear()
    if len(_deliver_tails) >= _DELIVER_CACHE_SIZE:
        _deliver_tails.clear()
    _consumer_tags[buf[offset + 1 : stop]] = method.consumer_tag
    _deliver_tails[buf[stop + 9 : end]] = (method.exchange, method.routing_key)
    return method


_MethodT = TypeVar("_MethodT", bound=amqp_object.Method)


def _field_repr(name: str, fields: dict[str, Any]) -> str:
    """Render a frame the way pika does, so that logs read the same after the switch."""
    items = sorted(f"{key}={value}" for key, value in fields.items())
    return f"<{name}({items})>"


class Frame:
    """Base of the frame objects: a frame type and a channel number."""

    __slots__ = ("channel_number", "frame_type")
    NAME = "Frame"

    def __init__(self, frame_type: int, channel_number: int) -> None:
        self.frame_type = frame_type
        self.channel_number = channel_number

    def _fields(self) -> dict[str, Any]:
        return {"frame_type": self.frame_type, "channel_number": self.channel_number}

    def marshal(self) -> bytes:
        """Return the frame as wire bytes; each concrete frame type implements it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement marshal()")

    def __repr__(self) -> str:
        return _field_repr(self.NAME, self._fields())

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]


class Method(Frame, Generic[_MethodT]):
    """A method frame: one spec method object on a channel."""

    __slots__ = ("method",)
    NAME = "METHOD"

    def __init__(self, channel_number: int, method: _MethodT) -> None:
        self.frame_type = _FRAME_METHOD
        self.channel_number = channel_number
        self.method = method

    def _fields(self) -> dict[str, Any]:
        fields = super()._fields()
        fields["method"] = self.method
        return fields

    def marshal(self) -> bytes:
        """Return the method frame as wire bytes."""
        return encode_method(self.channel_number, self.method)


class Header(Frame):
    """A content header frame: the body size and the message properties."""

    __slots__ = ("body_size", "properties")
    NAME = "Header"

    def __init__(
        self, channel_number: int, body_size: int, props: amqp_object.Properties | None
    ) -> None:
        self.frame_type = _FRAME_HEADER
        self.channel_number = channel_number
        self.body_size = body_size
        self.properties = props

    def _fields(self) -> dict[str, Any]:
        fields = super()._fields()
        fields["body_size"] = self.body_size
        fields["properties"] = self.properties
        return fields

    def marshal(self) -> bytes:
        """Return the content header frame as wire bytes."""
        return encode_header(self.channel_number, self.body_size, self.properties)


class Body(Frame):
    """A content body frame: one fragment of a message body."""

    __slots__ = ("fragment",)
    NAME = "Body"

    def __init__(self, channel_number: int, fragment: bytes) -> None:
        self.frame_type = _FRAME_BODY
        self.channel_number = channel_number
        self.fragment = fragment

    def _fields(self) -> dict[str, Any]:
        fields = super()._fields()
        fields["fragment"] = self.fragment
        return fields

    def marshal(self) -> bytes:
        """Return the body frame as wire bytes."""
        fragment = self.fragment
        return b"".join(
            (
                _FRAME_HEADER_STRUCT.pack(_FRAME_BODY, self.channel_number, len(fragment)),
                fragment,
                _FRAME_END_BYTES,
            )
        )


class Heartbeat(Frame):
    """A heartbeat frame (always on channel 0)."""

    __slots__ = ()
    NAME = "Heartbeat"

    def __init__(self) -> None:
        self.frame_type = _FRAME_HEARTBEAT
        self.channel_number = 0

    def marshal(self) -> bytes:
        """Return the heartbeat frame as wire bytes."""
        return HEARTBEAT_FRAME


class ProtocolHeader(Frame):
    """The protocol header ("AMQP" 0 major minor revision) that opens a connection."""

    __slots__ = ("major", "minor", "revision")
    NAME = "ProtocolHeader"

    def __init__(self, major: int = 0, minor: int = 9, revision: int = 1) -> None:
        self.frame_type = -1
        self.channel_number = 0
        self.major = major
        self.minor = minor
        self.revision = revision

    def _fields(self) -> dict[str, Any]:
        return {
            "frame_type": self.frame_type,
            "major": self.major,
            "minor": self.minor,
            "revision": self.revision,
        }

    def marshal(self) -> bytes:
        """Return the 8-byte protocol header."""
        return _PROTOCOL_HEADER.pack(b"AMQP", 0, self.major, self.minor, self.revision)


# ---------------------------------------------------------------------------------------------
# Errors (built off the hot path)


def _bad_type(frame_type: int, channel: int) -> FrameError:
    if frame_type == _FRAME_HEARTBEAT:
        return FrameError(
            501, f"heartbeat frame on channel {channel}; heartbeats are only valid on channel 0"
        )
    return FrameError(
        501,
        f"unknown frame type {frame_type} on channel {channel}; AMQP 0-9-1 defines "
        f"1 (method), 2 (header), 3 (body) and 8 (heartbeat): the peer is not speaking AMQP 0-9-1 "
        f"or the stream is out of sync",
    )


def _bad_end(frame_type: int, channel: int, size: int, end_byte: int) -> FrameError:
    return FrameError(
        501,
        f"frame (type {frame_type}, channel {channel}, {size} payload bytes) ends with byte "
        f"0x{end_byte:02x} instead of frame-end 0xce: the declared size is wrong or the stream "
        f"is corrupt",
    )


def _oversize(frame_type: int, channel: int, size: int, limit: int, negotiated: bool) -> FrameError:
    if negotiated:
        why = f"the negotiated frame_max of {limit} bytes"
    else:
        why = f"{limit} bytes, the AMQP frame-min-size that applies until connection.tune"
    return FrameError(
        501,
        f"frame (type {frame_type}, channel {channel}) of {size + 8} bytes exceeds {why}; "
        f"the peer ignored the frame size limit",
    )


def _bad_method_payload(payload: bytes) -> FrameError:
    if len(payload) < 4:
        return FrameError(
            502, f"method frame payload of {len(payload)} bytes is too short for a method id"
        )
    class_id, method_id = struct.unpack_from(">HH", payload)
    return FrameError(
        540,
        f"unknown method: class id {class_id}, method id {method_id}; this client implements "
        f"AMQP 0-9-1 with RabbitMQ's extensions only",
    )


def _bad_header_payload(payload: bytes) -> FrameError:
    if len(payload) < _CONTENT_HEADER_PAYLOAD.size:
        return FrameError(
            502,
            f"content header payload of {len(payload)} bytes is shorter than the 14-byte minimum",
        )
    class_id = _CONTENT_HEADER_PAYLOAD.unpack_from(payload)[0]
    if class_id in spec.props:
        return FrameError(
            502, f"content header payload of {len(payload)} bytes ends inside its property flags"
        )
    if any(index >> 16 == class_id for index in spec.methods):
        return FrameError(
            505, f"content header for class {class_id}, which has no content (only basic has)"
        )
    return FrameError(540, f"content header for unknown class id {class_id}")


# ---------------------------------------------------------------------------------------------
# Reading


# A delivery template: what the deliveries of one consumer share when their exchange, routing
# key, property sizes and body size repeat (the common case): the bytes before the delivery
# tag, the bytes from the exchange to the content header's weight, and the decoded strings.
# (prefix, middle, tag_at, middle_at, props_at, header_end, need, unpack, channel, consumer tag,
# exchange, routing key, body size, the header's frame-end with the body frame's header)
_Template = Tuple[
    bytes, bytes, int, int, int, int, int, Callable[..., Any], int, str, str, str, int, bytes
]
_TEMPLATE_REBUILDS = 8
# Once they are spent, one more try per this many deliveries read the long way.
_TEMPLATE_RETRY = 64
_template_structs: dict[int, Any] = {}


def _template_of(
    data: bytes, offset: int, end: int, h_end: int, channel: int, method: Any, body_size: int
) -> _Template:
    """The template of the delivery whose method frame starts at ``offset`` (frame-end at
    ``end``) and whose content header frame ends at ``h_end``, decoded as ``method``, with a
    body of ``body_size`` bytes in one body frame."""
    tag_at = 12 + data[offset + 11]
    header = end + 1
    middle = data[offset + tag_at + 9 : header + 11]
    unpack = _template_structs.get(len(middle))
    if unpack is None:
        # delivery tag, redelivered; skip the middle; body size, property flags
        unpack = struct.Struct(f">QB{len(middle)}xQH").unpack_from
        if len(_template_structs) < 256:
            _template_structs[len(middle)] = unpack
    return (
        data[offset : offset + tag_at],
        middle,
        tag_at,
        tag_at + 9,
        header + 21 - offset,
        h_end - offset,
        h_end - offset + 8,
        unpack,
        channel,
        method.consumer_tag,
        method.exchange,
        method.routing_key,
        body_size,
        data[h_end : h_end + 8],  # the header's frame-end and the body frame's header
    )


class FrameReader:
    """Split an inbound byte stream into raw frames, checking every frame header as it arrives.

    ``feed`` parses every complete frame of what it is given at increasing offsets and keeps
    only the unfinished tail, so total work is linear in the bytes fed and the reader never holds
    more than one unfinished frame. The size limit is checked as soon as a 7-byte frame header is
    seen, before its payload is buffered: frame-min-size (4096) until ``frame_max`` is set from
    connection.tune, then ``frame_max`` (0 meaning "no limit", bounded by
    ``max_frame_size_cap``).
    """

    __slots__ = (
        "_at_start",
        "_cap",
        "_chunks",
        "_frame_max",
        "_have",
        "_max_payload",
        "_need",
        "_stream_channel",
        "_stream_hold",
        "_stream_left",
        "_stream_size",
        "_streaming",
        "_template",
        "_template_budget",
        "fuse",
        "fused",
        "pending_error",
        "pieces",
    )

    def __init__(self, max_frame_size_cap: int = DEFAULT_MAX_FRAME_SIZE_CAP) -> None:
        if max_frame_size_cap < _FRAME_MIN_SIZE:
            raise ValueError(
                f"max_frame_size_cap={max_frame_size_cap} is below the AMQP frame-min-size "
                f"({_FRAME_MIN_SIZE}); pass at least {_FRAME_MIN_SIZE}"
            )
        self._chunks: list[Any] = []  # bytes and memoryviews of them
        self._have = 0
        self._need = 0
        self._cap = max_frame_size_cap
        self._frame_max: int | None = None
        self._max_payload = _FRAME_MIN_SIZE - 8
        self._at_start = True
        #: An error found after good frames in the same feed; raised by the next feed().
        self.pending_error: FrameError | None = None
        #: When set (by the protocol) to a 4-field tuple type, a basic.deliver whose content
        #: header and single body frame are complete in the same feed comes out as one entry
        #: of that type, ``(channel, method, properties, body)``, instead of three raw frames:
        #: the method and properties are decoded in place, without slicing their payloads.
        #: Anything unusual (other class, several body frames, an empty body, a payload the
        #: decoders refuse) comes out as raw frames, for the frame-by-frame path to judge.
        self.fuse: type[tuple[Any, ...]] | None = None
        #: How many deliveries the last feed() fused (each stands for three frames).
        self.fused = 0
        #: How many of the last feed()'s entries were pieces of a body frame still arriving
        #: (only while ``fuse`` is set: see _stream_start); the last piece of a frame, which
        #: comes once its frame-end byte is checked, counts as the frame.
        self.pieces = 0
        # A large body frame whose payload is handed out as it arrives: whether one is, its
        # payload bytes not yet received, its last payload byte once fed (kept until the
        # frame-end byte is checked, so that no message completes before its last frame is
        # whole), its channel and size.
        self._streaming = False
        self._stream_left = 0
        self._stream_hold = b""
        self._stream_channel = 0
        self._stream_size = 0
        # The layout of the last delivery fused the long way (see _template_of), and how many
        # more times it may be rebuilt before one is used: a stream whose deliveries never
        # repeat a layout stops paying for templates, but for one try every _TEMPLATE_RETRY.
        self._template: _Template | None = None
        self._template_budget = _TEMPLATE_REBUILDS

    @property
    def frame_max(self) -> int | None:
        """The negotiated frame_max, or None before connection.tune."""
        return self._frame_max

    @frame_max.setter
    def frame_max(self, value: int) -> None:
        if value == 0:
            limit = self._cap
        elif _FRAME_MIN_SIZE <= value <= 0xFFFFFFFF:
            limit = min(value, self._cap)
        else:
            raise ValueError(
                f"frame_max={value} is invalid: use 0 (no limit) or {_FRAME_MIN_SIZE}..4294967295; "
                f"reject a connection.tune that proposes it"
            )
        self._frame_max = value
        self._max_payload = limit - 8

    @property
    def frame_size_limit(self) -> int:
        """The largest frame (header and frame-end included) the reader accepts right now."""
        return self._max_payload + 8

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished frame the reader holds."""
        return self._have

    @property
    def missing(self) -> int:
        """How many more bytes the unfinished frame needs (0 when no frame is unfinished; at
        least that many: the frame's size may not be known yet)."""
        if self._streaming:
            return self._stream_left + 1
        return self._need - self._have if self._have else 0

    @property
    def streaming(self) -> bool:
        """Whether a large body frame is being received piece by piece: its payload may be
        written straight to its message (``stream_room``, ``streamed``); its frame-end byte
        always comes through feed(), which completes the frame."""
        return self._streaming

    @property
    def stream_room(self) -> int:
        """How many payload bytes of the body frame being received may still be written
        straight to the message (0 when none is being received)."""
        return self._stream_left

    @property
    def stream_channel(self) -> int:
        """The channel of the body frame being received piece by piece (0 when none)."""
        return self._stream_channel if self._streaming else 0

    def streamed(self, count: int) -> None:
        """``count`` payload bytes of the body frame being received went straight to the
        message (at most ``stream_room``)."""
        if not 0 <= count <= self.stream_room:
            raise ValueError(f"streamed({count}): only {self.stream_room} bytes may be streamed")
        self._stream_left -= count

    def feed(self, data: amqp_object.Buffer) -> list[RawFrame]:
        """Add received bytes; return the frames they complete, in order.

        Raises FrameError (reply code 501) for a frame over the size limit, a bad frame-end
        byte, an unknown frame type or a heartbeat off channel 0, and IncompatibleProtocolError
        when the server answers our protocol header with its own (it refused AMQP 0-9-1).
        """
        if self.pending_error is not None:
            raise self.pending_error
        self.fused = 0
        self.pieces = 0
        if type(data) is not bytes:
            data = bytes(data)
        frames: list[RawFrame] = []
        offset = 0
        if self._at_start:
            if self._have:
                self._chunks.append(data)
                data = b"".join(self._chunks)
                self._chunks = []
                self._have = 0
            if not data:
                return frames
            if data[0] == 0x41 and not self._check_start(data):  # "A", as in "AMQP"
                return frames
            self._at_start = False
        else:
            # Finish the frame the last feed left unfinished with just the bytes it lacks, so
            # the rest of ``data`` is parsed in place (no copy of what follows it).
            while True:
                if self._streaming:
                    offset, error = self._stream_more(data, offset, frames)
                    if error is not None:
                        return self._failed(error, frames)
                    if offset == len(data):
                        return frames
                if not self._have:
                    break
                missing = self._need - self._have
                if len(data) - offset < missing:
                    if offset < len(data):
                        self._chunks.append(memoryview(data)[offset:] if offset else data)
                        self._have += len(data) - offset
                    return frames
                self._chunks.append(memoryview(data)[offset : offset + missing])
                offset += missing
                head = b"".join(self._chunks)
                self._chunks = []
                self._have = 0
                error = self._split(head, 0, frames)
                if error is not None:
                    return self._failed(error, frames)
        error = self._split(data, offset, frames)
        if error is not None:
            return self._failed(error, frames)
        return frames

    def _stream_more(
        self, data: bytes, offset: int, frames: list[RawFrame]
    ) -> tuple[int, FrameError | None]:
        """Continue the body frame being received piece by piece with ``data[offset:]``;
        return where the next frame starts (``len(data)`` when the rest was all payload), or
        the error of a bad frame-end byte."""
        left = self._stream_left
        channel = self._stream_channel
        hold = self._stream_hold
        have = len(data) - offset
        if have > left:
            end = offset + left
            if data[end] != _FRAME_END:
                return end, _bad_end(3, channel, self._stream_size, data[end])
            # The frame is whole: its last piece counts as the frame.
            last = hold if hold else memoryview(data)[offset:end]
            frames.append((3, channel, last))  # type: ignore[arg-type]
            self._streaming = False
            self._stream_left = 0
            self._stream_hold = b""
            return end + 1, None
        # All of it is payload; the frame's last payload byte waits for the frame-end byte.
        count = have if have < left else left - 1
        if count:
            frames.append((3, channel, memoryview(data)[offset : offset + count]))  # type: ignore[arg-type]
            self.pieces += 1
        if count < have:
            self._stream_hold = data[offset + count :]
        self._stream_left = left - have
        return len(data), None

    def _stream_start(
        self, data: bytes, offset: int, channel: int, size: int, frames: list[RawFrame]
    ) -> None:
        """A large body frame that ``data`` holds only the start of (its frame header at
        ``offset``, not its frame-end): receive it piece by piece, from its payload so far."""
        self._streaming = True
        self._stream_left = size
        self._stream_channel = channel
        self._stream_size = size
        self._stream_more(data, offset + 7, frames)

    def _failed(self, error: FrameError, frames: list[RawFrame]) -> list[RawFrame]:
        """The frames before a bad one still count (a confirm or a close may be among them):
        hand them out now and raise on the next call; raise at once when there are none."""
        self._chunks = []
        self._have = 0
        self._streaming = False
        self._stream_left = 0
        self._stream_hold = b""
        if not frames:
            raise error
        self.pending_error = error
        return frames

    def _split(self, data: bytes, offset: int, frames: list[RawFrame]) -> FrameError | None:
        """Append the whole frames of ``data[offset:]`` to ``frames`` and keep the unfinished
        tail; return the error of a bad frame (the frames before it are appended)."""
        append = frames.append
        unpack_from = _FRAME_HEADER_STRUCT.unpack_from
        max_payload = self._max_payload
        length = len(data)
        error: FrameError | None = None
        fuse = self.fuse
        fused = 0
        new_tuple = tuple.__new__
        view = memoryview(data)
        unpack_header = _HEADER_FRAME_FLAGS.unpack_from
        unpack_deliver = _unpack_deliver
        decoders = _BASIC_DECODERS
        template = self._template if fuse is not None else None
        delivery: Any = fuse  # not None wherever a template is used
        if template is not None:
            (t_prefix, t_middle, t_tag_at, t_middle_at, t_props_at, t_h_end, t_need, t_unpack,
             t_channel, t_consumer_tag, t_exchange, t_routing_key, t_body_size,
             t_body_head) = template  # fmt: skip
        templated = 0
        while length - offset >= 7:
            if (
                template is not None
                and data.startswith(t_prefix, offset)
                and length - offset >= t_need
                and data.startswith(t_middle, offset + t_middle_at)
            ):
                # A delivery laid out like the last one: its method frame (but for the delivery
                # tag and redelivered flag) and its content header up to the body size are the
                # template's bytes, so already checked; read the delivery tag, body size and
                # flags in one step, then check the body frame.
                delivery_tag, bits, body_size, flags = t_unpack(data, offset + t_tag_at)
                h_end = offset + t_h_end
                b_end = h_end + 8 + body_size
                if body_size == t_body_size:
                    # The header's frame-end and the body frame's header are the template's.
                    whole = data.startswith(t_body_head, h_end)
                else:
                    b_type, b_channel, b_size = unpack_from(data, h_end + 1)
                    whole = (
                        data[h_end] == _FRAME_END
                        and b_type == 3
                        and b_channel == t_channel
                        and b_size == body_size
                        and 0 < b_size <= max_payload
                    )
                if whole and b_end < length and data[b_end] == _FRAME_END:
                    try:
                        decoder = decoders.get(flags) or _basic_decoder(flags)
                        properties = decoder(data, offset + t_props_at, h_end)
                    except Exception:  # noqa: BLE001, S110 - the frame-by-frame path reports it
                        pass
                    else:
                        method = _new_object(_Deliver)
                        method.consumer_tag = t_consumer_tag
                        method.delivery_tag = delivery_tag
                        method.redelivered = (bits & 1) != 0
                        method.exchange = t_exchange
                        method.routing_key = t_routing_key
                        append(
                            new_tuple(
                                delivery, (t_channel, method, properties, data[h_end + 8 : b_end])
                            )
                        )
                        templated += 1
                        offset = b_end + 1
                        continue
            frame_type, channel, size = unpack_from(data, offset)
            if (frame_type > 3 or not frame_type) and (frame_type != _FRAME_HEARTBEAT or channel):
                error = _bad_type(frame_type, channel)
                break
            if size > max_payload:
                error = _oversize(
                    frame_type, channel, size, max_payload + 8, self._frame_max is not None
                )
                break
            end = offset + 7 + size
            if end >= length:
                if frame_type == 3 and size >= _BODY_VIEW_MIN and fuse is not None and channel:
                    # A large body frame that has only begun: its payload goes out in pieces.
                    self._stream_start(data, offset, channel, size, frames)
                    offset = length
                break
            if data[end] != _FRAME_END:
                error = _bad_end(frame_type, channel, size, data[end])
                break
            if (
                frame_type == 1
                and fuse is not None
                and channel
                and data.startswith(_DELIVER_ID, offset + 7)
                and length - end >= 22
            ):
                # basic.deliver: take its header and body frames too when they are complete.
                header = end + 1
                h_type, h_channel, h_size, class_id, _weight, body_size, flags = unpack_header(
                    data, header
                )
                h_end = header + 7 + h_size
                body_at = h_end + 1
                if (
                    h_type == 2
                    and h_channel == channel
                    and class_id == _BASIC_CLASS_ID
                    and 14 <= h_size <= max_payload
                    and length - body_at >= 7
                    and data[h_end] == _FRAME_END
                ):
                    b_type, b_channel, b_size = unpack_from(data, body_at)
                    b_end = body_at + 7 + b_size
                    if (
                        b_type == 3
                        and b_channel == channel
                        and b_size == body_size
                        and 0 < b_size <= max_payload
                        and b_end < length
                        and data[b_end] == _FRAME_END
                    ):
                        try:
                            method = unpack_deliver(data, offset + 11, end)
                            decoder = decoders.get(flags) or _basic_decoder(flags)
                            properties = decoder(data, header + 21, h_end)
                        except Exception:  # noqa: BLE001, S110 - the frame-by-frame path reports it
                            pass
                        else:
                            append(
                                new_tuple(
                                    fuse, (channel, method, properties, data[body_at + 7 : b_end])
                                )
                            )
                            fused += 1
                            budget = self._template_budget
                            self._template_budget = budget - 1
                            if budget > 0 or budget <= -_TEMPLATE_RETRY:
                                if budget < 0:
                                    self._template_budget = 0
                                template = self._template = _template_of(
                                    data, offset, end, h_end, channel, method, body_size
                                )
                                (t_prefix, t_middle, t_tag_at, t_middle_at, t_props_at, t_h_end,
                                 t_need, t_unpack, t_channel, t_consumer_tag, t_exchange,
                                 t_routing_key, t_body_size, t_body_head) = template  # fmt: skip
                            offset = b_end + 1
                            continue
            if frame_type == 3 and size >= _BODY_VIEW_MIN:
                append((3, channel, view[offset + 7 : end]))  # type: ignore[arg-type]
            else:
                append((frame_type, channel, data[offset + 7 : end]))
            offset = end + 1
        if templated:
            self._template_budget = _TEMPLATE_REBUILDS
        self.fused += fused + templated
        if error is not None:
            return error
        rest = length - offset
        if rest:
            self._chunks = [view[offset:] if offset else data]
            self._have = rest
            self._need = 8 + unpack_from(data, offset)[2] if rest >= 7 else 7
        return None

    def _check_start(self, data: bytes) -> bool:
        """Detect the server's protocol header at the start of the stream.

        Returns False (and keeps the bytes) while fewer than 8 bytes have arrived.
        """
        if len(data) < 8:
            self._chunks = [data]
            self._have = len(data)
            self._need = 8
            return False
        if data[:4] == b"AMQP":
            _, protocol_id, major, minor, revision = _PROTOCOL_HEADER.unpack_from(data)
            raise IncompatibleProtocolError(
                f"the server refused AMQP 0-9-1 and answered with protocol header "
                f"AMQP {protocol_id}-{major}-{minor}-{revision}; connect to an AMQP 0-9-1 port "
                f"(RabbitMQ: 5672, or 5671 for TLS)",
                (major, minor, revision),
            )
        return True


def decode_method(payload: bytes) -> amqp_object.Method:
    """Decode a method frame payload into its spec method object (540 for an unknown id)."""
    try:
        unpack = _METHOD_UNPACKERS[payload[:4]]
    except KeyError:
        raise _bad_method_payload(payload) from None
    return unpack(payload, 4, len(payload))


def decode_header(payload: bytes) -> tuple[int, int, amqp_object.Properties]:
    """Decode a content header payload into (class_id, body_size, properties).

    Basic's properties go straight to the decoder specialised for their flags word.
    """
    try:
        class_id, _weight, body_size, flags = _CONTENT_HEADER_FLAGS.unpack_from(payload)
    except struct.error:
        raise _bad_header_payload(payload) from None
    if class_id == _BASIC_CLASS_ID:
        decoder = _BASIC_DECODERS.get(flags) or _basic_decoder(flags)
        return class_id, body_size, decoder(payload, 14, len(payload))
    unpack = _PROPERTY_UNPACKERS.get(class_id)
    if unpack is None:
        raise _bad_header_payload(payload)
    return class_id, body_size, unpack(payload, 12, len(payload))


def decode_frame(data_in: amqp_object.Buffer) -> tuple[int, Frame | None]:
    """Decode the first frame of ``data_in``: (bytes consumed, frame), or (0, None) if incomplete.

    pika's function, for code that parses frames itself; connections use FrameReader.
    """
    if data_in[:4] == b"AMQP":
        if len(data_in) < 8:
            return 0, None
        _, _, major, minor, revision = _PROTOCOL_HEADER.unpack_from(data_in)
        return 8, ProtocolHeader(major, minor, revision)
    if len(data_in) < 7:
        return 0, None
    frame_type, channel, size = _FRAME_HEADER_STRUCT.unpack_from(data_in)
    if (frame_type > 3 or not frame_type) and (frame_type != _FRAME_HEARTBEAT or channel):
        raise _bad_type(frame_type, channel)
    end = 7 + size
    if len(data_in) <= end:
        return 0, None
    if data_in[end] != _FRAME_END:
        raise _bad_end(frame_type, channel, size, data_in[end])
    payload = bytes(data_in[7:end])
    frame: Frame
    if frame_type == _FRAME_METHOD:
        frame = Method(channel, decode_method(payload))
    elif frame_type == _FRAME_HEADER:
        _, body_size, properties = decode_header(payload)
        frame = Header(channel, body_size, properties)
    elif frame_type == _FRAME_BODY:
        frame = Body(channel, payload)
    else:
        frame = Heartbeat()
    return end + 1, frame


# ---------------------------------------------------------------------------------------------
# Writing


def encode_method(channel: int, method: amqp_object.Method) -> bytes:
    """Return ``method`` as a complete method frame on ``channel``."""
    arguments = method.encode()
    return b"".join(
        (
            _METHOD_PREFIX.pack(_FRAME_METHOD, channel, 4 + len(arguments), method.INDEX),
            arguments,
            _FRAME_END_BYTES,
        )
    )


def encode_header(channel: int, body_size: int, properties: amqp_object.Properties | None) -> bytes:
    """Return a complete content header frame (basic class) on ``channel``."""
    if properties is None:
        return _EMPTY_HEADER.pack(
            _FRAME_HEADER, channel, 14, _BASIC_CLASS_ID, 0, body_size, 0, _FRAME_END
        )
    encoded = properties.encode()
    return b"".join(
        (
            _CONTENT_HEADER_PREFIX.pack(
                _FRAME_HEADER, channel, 12 + len(encoded), _BASIC_CLASS_ID, 0, body_size
            ),
            encoded,
            _FRAME_END_BYTES,
        )
    )


_PublishKey = Tuple[int, str, str, bool]
_publish_cache: dict[_PublishKey, bytes] = {}


def _publish_method_frame(key: _PublishKey) -> bytes:
    """Encode and cache the basic.publish frame for a new (channel, exchange, key, mandatory)."""
    channel, exchange, routing_key, mandatory = key
    publish = spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory)
    encoded = encode_method(channel, publish)
    if len(_publish_cache) >= PUBLISH_CACHE_SIZE:
        _publish_cache.clear()
    _publish_cache[key] = encoded
    return encoded


def encode_publish(
    channel: int,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: amqp_object.Properties | None = None,
    mandatory: bool = False,
    frame_max: int = 131072,
) -> bytes:
    """Return basic.publish, its content header and body frames as one bytes object.

    The body is split into frames of at most ``frame_max - 8`` bytes (0 means no negotiated
    limit); an empty body sends no body frame.
    """
    key = (channel, exchange, routing_key, mandatory)
    method = _publish_cache.get(key)
    if method is None:
        method = _publish_method_frame(key)
    size = len(body)
    if size and size <= frame_max - 8:
        if properties is None:
            return b"".join(
                (
                    method,
                    _EMPTY_HEADER_THEN_BODY.pack(
                        _FRAME_HEADER,
                        channel,
                        14,
                        _BASIC_CLASS_ID,
                        0,
                        size,
                        0,
                        _FRAME_END,
                        _FRAME_BODY,
                        channel,
                        size,
                    ),
                    body,
                    _FRAME_END_BYTES,
                )
            )
        encoded = properties.encode()
        return b"".join(
            (
                method,
                _CONTENT_HEADER_PREFIX.pack(
                    _FRAME_HEADER, channel, 12 + len(encoded), _BASIC_CLASS_ID, 0, size
                ),
                encoded,
                _END_THEN_BODY.pack(_FRAME_END, _FRAME_BODY, channel, size),
                body,
                _FRAME_END_BYTES,
            )
        )
    return _encode_publish_split(method, channel, body, properties, frame_max)


def encode_publish_parts(
    channel: int,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: amqp_object.Properties | None,
    mandatory: bool,
    frame_max: int,
) -> list[Any]:
    """``encode_publish`` as a list of buffers whose concatenation is its result: the body's
    frames as memoryviews of ``body`` (no copy; ``body`` must not change until they are
    sent), the small pieces between them joined. For writers that can send several buffers
    at once (``socket.sendmsg``); a body that fits one frame gives a one-item list."""
    if len(body) <= (frame_max or DEFAULT_MAX_FRAME_SIZE_CAP) - 8:
        return [
            encode_publish(channel, exchange, routing_key, body, properties, mandatory, frame_max)
        ]
    key = (channel, exchange, routing_key, mandatory)
    method = _publish_cache.get(key) or _publish_method_frame(key)
    return join_small(_publish_split_pieces(method, channel, body, properties, frame_max), 4096)


def join_small(pieces: Any, limit: int) -> list[Any]:
    """``pieces`` with each run of pieces shorter than ``limit`` joined into one ``bytes``
    (the longer ones kept as they are): few buffers for one ``sendmsg``, no big copy."""
    buffers: list[Any] = []
    small: list[Any] = []
    for piece in pieces:
        if len(piece) < limit:
            small.append(piece)
            continue
        if small:
            buffers.append(b"".join(small))
            small = []
        buffers.append(piece)
    if small:
        buffers.append(b"".join(small))
    return buffers


def _encode_publish_split(
    method: bytes,
    channel: int,
    body: bytes,
    properties: amqp_object.Properties | None,
    frame_max: int,
) -> bytes:
    """Encode a publish whose body is empty or needs more than one body frame."""
    return b"".join(_publish_split_pieces(method, channel, body, properties, frame_max))


def _publish_split_pieces(
    method: bytes,
    channel: int,
    body: bytes,
    properties: amqp_object.Properties | None,
    frame_max: int,
) -> list[Any]:
    """The pieces of a publish whose body is empty or needs more than one body frame."""
    if frame_max == 0:
        frame_max = DEFAULT_MAX_FRAME_SIZE_CAP
    elif frame_max < _FRAME_MIN_SIZE:
        raise ValueError(
            f"frame_max={frame_max} is below the AMQP frame-min-size ({_FRAME_MIN_SIZE}); "
            f"pass the frame_max negotiated in connection.tune"
        )
    size = len(body)
    pieces = [method, encode_header(channel, size, properties)]
    chunk = frame_max - 8
    view = memoryview(body)
    pack = _FRAME_HEADER_STRUCT.pack
    for start in range(0, size, chunk):
        fragment = view[start : start + chunk]
        pieces.append(pack(_FRAME_BODY, channel, len(fragment)))
        pieces.append(fragment)  # type: ignore[arg-type]
        pieces.append(_FRAME_END_BYTES)
    return pieces


def _build_unpackers() -> tuple[
    dict[bytes, Callable[[bytes, int, int], amqp_object.Method]],
    dict[int, Callable[[bytes, int, int], amqp_object.Properties]],
]:
    """Index the spec's fast decoders by their 4-byte method index and by class id."""
    methods: dict[bytes, Callable[[bytes, int, int], amqp_object.Method]] = {
        struct.pack(">I", index): cls._unpack for index, cls in spec.methods.items()
    }
    props: dict[int, Callable[[bytes, int, int], amqp_object.Properties]] = {
        class_id: cls._unpack for class_id, cls in spec.props.items()
    }
    return methods, props


_METHOD_UNPACKERS, _PROPERTY_UNPACKERS = _build_unpackers()
