"""Base classes of the generated AMQP classes, methods and content properties (pika's API)."""

from __future__ import annotations

from typing import Any, ClassVar, Union

__all__ = ["AMQPObject", "Class", "Method", "Properties"]

Buffer = Union[bytes, bytearray, memoryview]
#: What the generated fast decoders read.
Bytes = Union[bytes, bytearray]


def _readable(encoded: Buffer) -> Bytes:
    """The generated decoders call ``bytes.decode``: copy a memoryview into bytes."""
    return encoded.tobytes() if isinstance(encoded, memoryview) else encoded


class AMQPObject:
    """Common repr and equality of everything in pika_core.spec, driven by ``_FIELDS``."""

    __slots__ = ()

    NAME: ClassVar[str] = "AMQPObject"
    INDEX: ClassVar[int | None] = None
    #: Attribute names in protocol order; the generated classes fill it in.
    _FIELDS: ClassVar[tuple[str, ...]] = ()
    #: The AMQP type of each field, in the same order.
    _TYPES: ClassVar[tuple[str, ...]] = ()
    #: Fields that may carry a password; repr shows them masked.
    _SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        items = []
        for name in self._FIELDS:
            value = getattr(self, name, None)
            if value is None:
                continue
            if name in self._SECRET_FIELDS:
                items.append(f"{name}=<redacted>")
            else:
                items.append(f"{name}={value}")
        if not items:
            return f"<{self.NAME}>"
        return f"<{self.NAME}({sorted(items)})>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AMQPObject):
            return NotImplemented
        if type(other) is not type(self):
            return False
        return all(getattr(self, name, None) == getattr(other, name, None) for name in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def _copy_from(self, other: AMQPObject) -> None:
        """Take over the field values of another instance of the same class."""
        for name in self._FIELDS:
            setattr(self, name, getattr(other, name))


class Class(AMQPObject):
    """An AMQP class (Connection, Channel, Basic, ...): a namespace of methods."""

    __slots__ = ()

    NAME: ClassVar[str] = "Unextended Class"


class Method(AMQPObject):
    """An AMQP method; content-bearing ones carry their properties and body once assembled."""

    __slots__ = ("_body", "_properties")

    NAME: ClassVar[str] = "Unextended Method"
    #: True when the peer must answer this method before another RPC on the channel.
    synchronous: ClassVar[bool] = False
    #: The packed 4-byte method index that starts a method frame's payload.
    _INDEX_BYTES: ClassVar[bytes] = b""

    def _set_content(self, properties: Any, body: bytes) -> None:
        """Attach the content header's properties and the assembled body."""
        self._properties = properties
        self._body = body

    def get_properties(self) -> Any:
        """The BasicProperties of a content-bearing method, or None before _set_content."""
        return getattr(self, "_properties", None)

    def get_body(self) -> bytes | None:
        """The body of a content-bearing method, or None before _set_content."""
        return getattr(self, "_body", None)

    def encode(self) -> bytes:
        """The encoded arguments (without the 4-byte method index)."""
        raise NotImplementedError

    @staticmethod
    def _unpack(buf: Bytes, offset: int, end: int) -> Any:
        """Decode the arguments in buf[offset:end] into a new instance."""
        raise NotImplementedError

    def decode(self, encoded: Buffer, offset: int = 0) -> Method:
        """Decode the arguments in encoded[offset:] into this instance (pika's API)."""
        encoded = _readable(encoded)
        self._copy_from(self._unpack(encoded, offset, len(encoded)))
        return self


class Properties(AMQPObject):
    """The content-header properties of an AMQP class (BasicProperties)."""

    __slots__ = ()

    NAME: ClassVar[str] = "Unextended Properties"

    def encode(self) -> bytes:
        """The encoded property flags followed by the values that are set."""
        raise NotImplementedError

    @staticmethod
    def _unpack(buf: Bytes, offset: int, end: int) -> Any:
        """Decode the property flags and values in buf[offset:end] into a new instance."""
        raise NotImplementedError

    @staticmethod
    def _unpack_generic(buf: Bytes, offset: int, end: int) -> Any:
        """Like _unpack, for any flags word (the path of unusual ones)."""
        raise NotImplementedError

    def decode(self, encoded: Buffer, offset: int = 0) -> Properties:
        """Decode the flags and values in encoded[offset:] into this instance (pika's API)."""
        encoded = _readable(encoded)
        self._copy_from(self._unpack(encoded, offset, len(encoded)))
        return self
