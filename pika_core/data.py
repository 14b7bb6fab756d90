"""AMQP field values and field tables: the codec for message headers and method arguments.

Encoding (Python value -> AMQP field type):

==================================  ======  =============================================
Python                              tag     AMQP type
==================================  ======  =============================================
``bool``                            ``t``   boolean octet
``int`` in -2**31 .. 2**31-1        ``I``   signed 32-bit
other ``int`` in -2**63 .. 2**63-1  ``l``   signed 64-bit (larger: ``TypeError``)
``pika_core.data.Long``             ``l``   signed 64-bit, whatever the value
``float``                           ``d``   IEEE 754 double
``decimal.Decimal``                 ``D``   scale octet + signed 32-bit value
``str``                             ``S``   long string, UTF-8 (``surrogateescape``)
``bytes``, ``bytearray``            ``x``   byte array
``list``, ``tuple``                 ``A``   field array
``datetime.datetime``               ``T``   timestamp: whole seconds since the epoch, UTC
``dict`` (any ``Mapping``)          ``F``   nested field table
``None``                            ``V``   void
==================================  ======  =============================================

A naive ``datetime`` is taken as UTC.

Decoding (AMQP field type -> Python value): ``t`` bool; ``b B s u I i`` int (signed 8,
unsigned 8, signed 16, unsigned 16, signed 32, unsigned 32); ``l`` :class:`Long`;
``f d`` float; ``D`` ``Decimal``; ``S`` str; ``x`` bytes; ``A`` list; ``T`` a
timezone-aware UTC ``datetime``; ``F`` dict; ``V`` None.

``l`` decodes to :class:`Long` and strings decode with ``surrogateescape``, so the headers
RabbitMQ writes (``x-death`` counts, ``x-stream-offset``, ...) re-encode to the same bytes.
Table keys and short strings are at most 255 bytes once encoded; longer ones raise
:class:`~pika_core.exceptions.ShortStringTooLong` before anything is produced.

Decoding is strict: a length that overruns its enclosing structure, a table or array that
does not end exactly where declared, an unknown type tag, nesting deeper than 32 levels or
an unrepresentable value raises ``FrameError(502, ...)`` and nothing else.
"""

from __future__ import annotations

import calendar
import struct
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, List, Mapping, Tuple, Union

from pika_core.exceptions import FrameError, ShortStringTooLong

__all__ = [
    "MAX_DEPTH",
    "Bytes",
    "Long",
    "decode_short_string",
    "decode_table",
    "decode_value",
    "encode_short_string",
    "encode_table",
    "encode_value",
    "longstr_bytes",
    "read_table",
    "shortstr_bytes",
    "table_bytes",
]

Buffer = Union[bytes, bytearray, memoryview]
#: What the fast decoders read (``bytes.decode`` is needed; a memoryview is copied first).
Bytes = Union[bytes, bytearray]

#: Deepest nesting of tables and arrays accepted, both ways (the top-level table is depth 0).
MAX_DEPTH = 32

SYNTAX_ERROR = 502


class Long(int):
    """An int that always encodes as a signed 64-bit ``l`` field (``l`` decodes to it)."""

    __slots__ = ()


_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)

_U8 = struct.Struct("B")
_U32 = struct.Struct(">I")
_OCTETS = tuple(bytes((i,)) for i in range(256))
_EMPTY_TABLE = b"\x00\x00\x00\x00"

_TAG_I32 = struct.Struct(">Bi")
_TAG_I64 = struct.Struct(">Bq")
_TAG_F64 = struct.Struct(">Bd")
_TAG_U32 = struct.Struct(">BI")
_TAG_U64 = struct.Struct(">BQ")
_TAG_DEC = struct.Struct(">BBi")

_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1


def _syntax(text: str) -> FrameError:
    """Build the one exception every malformed field value becomes."""
    return FrameError(SYNTAX_ERROR, text)


# ---------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------

_Encoder = Callable[[List[bytes], Any, Any, int], None]


def shortstr_bytes(value: str | bytes) -> bytes:
    """Encode a short string with its length octet (the generated spec code calls this)."""
    if value.__class__ is str:
        try:
            raw = value.encode()
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(getattr(value, "value", None), str):
        # An enum member with a str value, such as ExchangeType.topic.
        raw = value.value.encode("utf-8", "surrogateescape")
    else:
        raise TypeError(f"a short string must be str or bytes, not {type(value).__name__}")
    if len(raw) > 255:
        raise ShortStringTooLong(value)
    return _OCTETS[len(raw)] + raw


def longstr_bytes(value: str | bytes) -> bytes:
    """Encode a long string with its 4-byte length (the generated spec code calls this)."""
    if value.__class__ is bytes:
        raw: bytes = value
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise TypeError(f"a long string must be str or bytes, not {type(value).__name__}")
    if len(raw) > _U32_MAX:
        raise ValueError("a long string can hold at most 4 GiB - 1 bytes")
    return _U32.pack(len(raw)) + raw


def _key_bytes(key: Any) -> bytes:
    """Encode a table key, refusing what AMQP cannot carry."""
    if key.__class__ is str or isinstance(key, str):
        raw = key.encode("utf-8", "surrogateescape")
    elif isinstance(key, (bytes, bytearray)):
        raw = bytes(key)
    else:
        raise TypeError(f"field table key {key!r} must be a str, not {type(key).__name__}")
    if len(raw) > 255:
        raise ShortStringTooLong(key)
    return _OCTETS[len(raw)] + raw


def _enc_bool(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    parts.append(b"t\x01" if value else b"t\x00")


def _enc_int(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    if _I32_MIN <= value <= _I32_MAX:
        parts.append(_TAG_I32.pack(73, value))  # 'I'
    elif _I64_MIN <= value <= _I64_MAX:
        parts.append(_TAG_I64.pack(108, value))  # 'l'
    else:
        raise TypeError(
            f"field {key!r}: integer {value} does not fit in a signed 64-bit AMQP field; "
            "send it as a str or a Decimal instead"
        )


def _enc_long(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    if not _I64_MIN <= value <= _I64_MAX:
        raise TypeError(f"field {key!r}: Long({int(value)}) does not fit in a signed 64-bit field")
    parts.append(_TAG_I64.pack(108, value))


def _enc_float(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    parts.append(_TAG_F64.pack(100, value))  # 'd'


def _enc_decimal(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    if not value.is_finite():
        raise ValueError(
            f"field {key!r}: {value} (NaN or infinity) cannot be sent as an AMQP decimal"
        )
    sign, digits, exponent = value.as_tuple()
    if all(d == 0 for d in digits):
        number, scale = 0, max(-exponent, 0)
    elif exponent >= 0:
        if len(digits) + exponent > 10:
            raise ValueError(
                f"field {key!r}: Decimal {value} does not fit in an AMQP decimal "
                "(a signed 32-bit value and a scale of 0..255)"
            )
        number, scale = int("".join(map(str, digits))) * 10**exponent, 0
    else:
        number, scale = int("".join(map(str, digits))), -exponent
    if sign:
        number = -number
    if scale > 255 or not _I32_MIN <= number <= _I32_MAX:
        raise ValueError(
            f"field {key!r}: Decimal {value} does not fit in an AMQP decimal "
            "(a signed 32-bit value and a scale of 0..255); round it or send it as a str"
        )
    parts.append(_TAG_DEC.pack(68, scale, number))  # 'D'


def _enc_str(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    raw = value.encode("utf-8", "surrogateescape")
    if len(raw) > _U32_MAX:
        raise ValueError(f"field {key!r}: a string can hold at most 4 GiB - 1 bytes")
    parts.append(_TAG_U32.pack(83, len(raw)))  # 'S'
    parts.append(raw)


def _enc_bytes(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    raw = bytes(value)
    if len(raw) > _U32_MAX:
        raise ValueError(f"field {key!r}: a byte array can hold at most 4 GiB - 1 bytes")
    parts.append(_TAG_U32.pack(120, len(raw)))  # 'x'
    parts.append(raw)


def _enc_datetime(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    seconds = calendar.timegm(value.utctimetuple())
    if not 0 <= seconds <= _U64_MAX:
        raise ValueError(
            f"field {key!r}: {value} is before 1970, which AMQP timestamps cannot hold"
        )
    parts.append(_TAG_U64.pack(84, seconds))  # 'T'


def _enc_none(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    parts.append(b"V")


def _enc_list(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(f"field {key!r}: tables and arrays nest deeper than {MAX_DEPTH} levels")
    inner: list[bytes] = []
    for item in value:
        encoder = _ENCODERS.get(item.__class__) or _encoder_for(item, key)
        encoder(inner, item, key, depth + 1)
    body = b"".join(inner)
    parts.append(_TAG_U32.pack(65, len(body)))  # 'A'
    parts.append(body)


def _enc_dict(parts: list[bytes], value: Any, key: Any, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(f"field {key!r}: tables and arrays nest deeper than {MAX_DEPTH} levels")
    inner: list[bytes] = []
    _encode_entries(inner, value, depth + 1)
    body = b"".join(inner)
    parts.append(_TAG_U32.pack(70, len(body)))  # 'F'
    parts.append(body)


_ENCODERS: dict[type, _Encoder] = {
    bool: _enc_bool,
    int: _enc_int,
    Long: _enc_long,
    float: _enc_float,
    Decimal: _enc_decimal,
    str: _enc_str,
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    list: _enc_list,
    tuple: _enc_list,
    datetime: _enc_datetime,
    dict: _enc_dict,
    type(None): _enc_none,
}

# Subclasses (IntEnum, OrderedDict, str enums, ...) are matched in this order.
_SUBCLASS_ENCODERS: tuple[tuple[type, _Encoder], ...] = (
    (bool, _enc_bool),
    (Long, _enc_long),
    (int, _enc_int),
    (float, _enc_float),
    (Decimal, _enc_decimal),
    (str, _enc_str),
    (bytes, _enc_bytes),
    (bytearray, _enc_bytes),
    (list, _enc_list),
    (tuple, _enc_list),
    (datetime, _enc_datetime),
    (Mapping, _enc_dict),
)


def _encoder_for(value: Any, key: Any) -> _Encoder:
    """Find the encoder for a value whose exact type is not in the fast table."""
    for kind, encoder in _SUBCLASS_ENCODERS:
        if isinstance(value, kind):
            return encoder
    raise TypeError(
        f"field {key!r}: values of type {type(value).__name__} cannot be sent in an AMQP "
        "field table; use bool, int, float, Decimal, str, bytes, list, dict, datetime or None"
    )


_KEY_CACHE: dict[Any, bytes] = {}
_KEY_CACHE_MAX = 1024


def _cached_key(key: Any) -> bytes:
    """Encode a table key, remembering str keys (a bounded cache)."""
    encoded = _key_bytes(key)
    if key.__class__ is str:
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[key] = encoded
    return encoded


def _encode_entries(parts: list[bytes], table: Any, depth: int) -> None:
    """Append the encoded key/value pairs of a table (without its length).

    Encoded str keys are remembered (a bounded cache: only str keys are stored, and no other
    key type compares equal to a str) and str and 32-bit int values are encoded inline:
    headers are on the publish path.
    """
    if table.__class__ is not dict and not isinstance(table, Mapping):
        raise TypeError(f"a field table must be a dict, not {type(table).__name__}")
    append = parts.append
    key_cache = _KEY_CACHE
    for key, value in table.items():
        encoded_key = key_cache.get(key) or _cached_key(key)
        kind = value.__class__
        if kind is str:
            try:
                raw = value.encode()
            except UnicodeEncodeError:
                raw = value.encode("utf-8", "surrogateescape")
            size = len(raw)
            if size > _U32_MAX:
                raise ValueError(f"field {key!r}: a string can hold at most 4 GiB - 1 bytes")
            append(encoded_key + _TAG_U32.pack(83, size))  # 'S'
            append(raw)
        elif kind is int and _I32_MIN <= value <= _I32_MAX:
            append(encoded_key + _TAG_I32.pack(73, value))  # 'I'
        else:
            append(encoded_key)
            encoder = _ENCODERS.get(kind) or _encoder_for(value, key)
            encoder(parts, value, key, depth)


# Encoded tables by content: (keys, values, value types) -> bytes. Only tables whose values
# are all of a type in _FLAT_TYPES are remembered: for those, equal values of the same exact
# type always encode to the same bytes (not so for float -0.0 == 0.0, or Decimal("1.0") ==
# Decimal("1.00"), which are left out), and the key holds no mutable object.
_ENCODED_TABLES: dict[tuple[tuple[Any, ...], tuple[Any, ...], tuple[type, ...]], bytes] = {}
_ENCODED_TABLES_MAX = 256
_FLAT_TYPES = frozenset((str, int, bool, bytes, Long, type(None)))


def table_bytes(table: Mapping[str, Any] | None) -> bytes:
    """Encode a field table with its 4-byte length; None and {} give an empty table.

    A stream of publishes often repeats one headers table; flat tables (str, int, Long, bool,
    bytes and None values) are remembered by content in a bounded cache, whose key is built by C
    loops only.
    """
    if not table:
        if table is None or isinstance(table, Mapping):
            return _EMPTY_TABLE
        raise TypeError(f"a field table must be a dict, not {type(table).__name__}")
    if table.__class__ is dict:
        values = tuple(table.values())
        kinds = tuple(map(type, values))
        if _FLAT_TYPES.issuperset(kinds):
            content = (tuple(table), values, kinds)
            encoded = _ENCODED_TABLES.get(content)
            if encoded is None:
                encoded = _table_bytes(table)
                if len(_ENCODED_TABLES) >= _ENCODED_TABLES_MAX:
                    _ENCODED_TABLES.clear()
                _ENCODED_TABLES[content] = encoded
            return encoded
    return _table_bytes(table)


def _table_bytes(table: Mapping[str, Any]) -> bytes:
    """Encode a non-empty field table with its 4-byte length."""
    parts: list[bytes] = [_EMPTY_TABLE]
    _encode_entries(parts, table, 0)
    size = sum(map(len, parts)) - 4
    if size > _U32_MAX:
        raise ValueError("a field table can hold at most 4 GiB - 1 bytes")
    parts[0] = _U32.pack(size)
    return b"".join(parts)


def encode_table(pieces: list[bytes], table: Mapping[str, Any] | None) -> int:
    """Append an encoded table (with its length) to pieces; return the bytes added (pika's API)."""
    encoded = table_bytes(table)
    pieces.append(encoded)
    return len(encoded)


def encode_value(pieces: list[bytes], value: Any, key: Any = None) -> int:
    """Append one tagged field value to pieces; return the bytes added (pika's API)."""
    parts: list[bytes] = []
    encoder = _ENCODERS.get(value.__class__) or _encoder_for(value, key)
    encoder(parts, value, key, 0)
    pieces.extend(parts)
    return sum(len(part) for part in parts)


def encode_short_string(pieces: list[bytes], value: str | bytes) -> int:
    """Append a short string with its length octet; return the bytes added (pika's API)."""
    encoded = shortstr_bytes(value)
    pieces.append(encoded)
    return len(encoded)


# ---------------------------------------------------------------------------------------
# Decoding. Every reader takes (buf, offset, end, depth), never reads at or past end, and
# returns (value, new_offset) with new_offset <= end.
# ---------------------------------------------------------------------------------------

_Reader = Callable[[Bytes, int, int, int], Tuple[Any, int]]


def _fixed_reader(fmt: str, tag: str, convert: Callable[[Any], Any] | None = None) -> _Reader:
    """Build the reader of a fixed-size field from its struct format."""
    unpack_from = struct.Struct(fmt).unpack_from
    size = struct.calcsize(fmt)

    if convert is None:

        def read(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
            stop = offset + size
            if stop > end:
                raise _syntax(f"field value of type {tag!r} overruns its table or array")
            return unpack_from(buf, offset)[0], stop

    else:
        conv = convert

        def read(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
            stop = offset + size
            if stop > end:
                raise _syntax(f"field value of type {tag!r} overruns its table or array")
            return conv(unpack_from(buf, offset)[0]), stop

    return read


def _to_datetime(seconds: int) -> datetime:
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise _syntax(f"timestamp {seconds} is beyond the year 9999") from None


_DECIMAL = struct.Struct(">Bi")


def _read_decimal(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
    stop = offset + 5
    if stop > end:
        raise _syntax("decimal field value overruns its table or array")
    scale, number = _DECIMAL.unpack_from(buf, offset)
    sign, digits, _ = Decimal(number).as_tuple()
    return Decimal((sign, digits, -scale)), stop


def _read_span(buf: Bytes, offset: int, end: int, what: str) -> tuple[int, int]:
    """Read a 4-byte length and return (start, stop) of the bytes it announces."""
    start = offset + 4
    if start > end:
        raise _syntax(f"{what} length overruns its enclosing structure")
    stop = start + _U32.unpack_from(buf, offset)[0]
    if stop > end:
        raise _syntax(f"{what} declares {stop - start} bytes but only {end - start} remain")
    return start, stop


def _read_longstr(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
    start, stop = _read_span(buf, offset, end, "long string")
    return str(buf[start:stop], "utf-8", "surrogateescape"), stop


def _read_bytes(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
    start, stop = _read_span(buf, offset, end, "byte array")
    return bytes(buf[start:stop]), stop


def _read_void(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
    return None, offset


def _read_array(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
    if depth >= MAX_DEPTH:
        raise _syntax(f"field tables and arrays nest deeper than {MAX_DEPTH} levels")
    offset, stop = _read_span(buf, offset, end, "field array")
    depth += 1
    items: list[Any] = []
    append = items.append
    while offset < stop:
        tag = buf[offset]
        reader = _READERS.get(tag)
        if reader is None:
            raise _syntax(f"unknown field type tag {chr(tag)!r} in a field array")
        value, offset = reader(buf, offset + 1, stop, depth)
        append(value)
    return items, stop


_TAG_S = ord("S")
_TAG_I = ord("I")
_TAG_T_BOOL = ord("t")
_TAG_L = ord("l")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


def _read_entries(buf: Bytes, offset: int, end: int, depth: int) -> dict[str, Any]:
    """Decode the key/value pairs in buf[offset:end]; they must end exactly at end.

    The tags headers use most (S, I, t, l) are read inline: this loop is on the delivery path.
    """
    table: dict[str, Any] = {}
    u32 = _U32.unpack_from
    while offset < end:
        key_end = offset + 1 + buf[offset]
        if key_end >= end:
            raise _syntax("field table key or its type tag overruns the table")
        raw = buf[offset + 1 : key_end]
        try:
            key = raw.decode()
        except UnicodeDecodeError:
            key = raw.decode("utf-8", "surrogateescape")
        tag = buf[key_end]
        offset = key_end + 1
        if tag == _TAG_S:
            start = offset + 4
            if start > end:
                raise _syntax("long string length overruns its enclosing structure")
            stop = start + u32(buf, offset)[0]
            if stop > end:
                raise _syntax(
                    f"long string declares {stop - start} bytes but only {end - start} remain"
                )
            raw = buf[start:stop]
            try:
                table[key] = raw.decode()
            except UnicodeDecodeError:
                table[key] = raw.decode("utf-8", "surrogateescape")
            offset = stop
        elif tag == _TAG_I:
            if offset + 4 > end:
                raise _syntax("field value of type 'I' overruns its table or array")
            table[key] = _I32.unpack_from(buf, offset)[0]
            offset += 4
        elif tag == _TAG_T_BOOL:
            if offset >= end:
                raise _syntax("field value of type 't' overruns its table or array")
            table[key] = buf[offset] != 0
            offset += 1
        elif tag == _TAG_L:
            if offset + 8 > end:
                raise _syntax("field value of type 'l' overruns its table or array")
            table[key] = Long(_I64.unpack_from(buf, offset)[0])
            offset += 8
        else:
            reader = _READERS.get(tag)
            if reader is None:
                raise _syntax(f"unknown field type tag {chr(tag)!r} for table key {key!r}")
            table[key], offset = reader(buf, offset, end, depth)
    return table


def _read_table(buf: Bytes, offset: int, end: int, depth: int) -> tuple[Any, int]:
    if depth >= MAX_DEPTH:
        raise _syntax(f"field tables and arrays nest deeper than {MAX_DEPTH} levels")
    start, stop = _read_span(buf, offset, end, "field table")
    return _read_entries(buf, start, stop, depth + 1), stop


_READERS: dict[int, _Reader] = {
    ord("t"): _fixed_reader("B", "t", bool),
    ord("b"): _fixed_reader("b", "b"),
    ord("B"): _fixed_reader("B", "B"),
    ord("s"): _fixed_reader(">h", "s"),
    ord("u"): _fixed_reader(">H", "u"),
    ord("I"): _fixed_reader(">i", "I"),
    ord("i"): _fixed_reader(">I", "i"),
    ord("l"): _fixed_reader(">q", "l", Long),
    ord("f"): _fixed_reader(">f", "f"),
    ord("d"): _fixed_reader(">d", "d"),
    ord("D"): _read_decimal,
    ord("S"): _read_longstr,
    ord("x"): _read_bytes,
    ord("A"): _read_array,
    ord("T"): _fixed_reader(">Q", "T", _to_datetime),
    ord("F"): _read_table,
    ord("V"): _read_void,
}


_TABLE_CACHE: dict[bytes, dict[str, Any]] = {}
_TABLE_CACHE_MAX = 512
_SCALARS = frozenset((str, int, Long, bool, float, bytes, Decimal, datetime, type(None)))


def read_table(buf: Bytes, offset: int, end: int) -> tuple[dict[str, Any], int]:
    """Decode a length-prefixed table at offset that must fit before end (used by spec).

    Messages of one stream often carry the same headers table, byte for byte; tables whose
    values are all immutable scalars are remembered by their bytes (a bounded cache) and
    handed out as fresh shallow copies, so the application may still change its dict.
    """
    try:
        start = offset + 4
        if start > end:
            raise _syntax("field table length overruns its enclosing structure")
        stop = start + _U32.unpack_from(buf, offset)[0]
        if stop > end:
            raise _syntax(
                f"field table declares {stop - start} bytes but only {end - start} remain"
            )
        raw = bytes(buf[start:stop])
        cached = _TABLE_CACHE.get(raw)
        if cached is not None:
            return cached.copy(), stop
        table = _read_entries(buf, start, stop, 0)
    except (struct.error, IndexError) as exc:
        raise _syntax(f"field table is truncated: {exc}") from None
    scalars = _SCALARS
    for value in table.values():
        if value.__class__ not in scalars:
            return table, stop
    if len(_TABLE_CACHE) >= _TABLE_CACHE_MAX:
        _TABLE_CACHE.clear()
    _TABLE_CACHE[raw] = table.copy()
    return table, stop


def decode_table(encoded: Buffer, offset: int) -> tuple[dict[str, Any], int]:
    """Decode a length-prefixed table; return (dict, offset after it) (pika's API)."""
    if isinstance(encoded, memoryview):
        encoded = encoded.tobytes()
    return read_table(encoded, offset, len(encoded))


def decode_value(encoded: Buffer, offset: int) -> tuple[Any, int]:
    """Decode one tagged field value; return (value, offset after it) (pika's API)."""
    if isinstance(encoded, memoryview):
        encoded = encoded.tobytes()
    try:
        tag = encoded[offset]
    except IndexError:
        raise _syntax("field value is missing its type tag") from None
    reader = _READERS.get(tag)
    if reader is None:
        raise _syntax(f"unknown field type tag {chr(tag)!r}")
    try:
        return reader(encoded, offset + 1, len(encoded), 0)
    except (struct.error, IndexError) as exc:
        raise _syntax(f"field value is truncated: {exc}") from None


def decode_short_string(encoded: Buffer, offset: int) -> tuple[str, int]:
    """Decode a short string; return (str, offset after it) (pika's API)."""
    try:
        stop = offset + 1 + encoded[offset]
    except IndexError:
        raise _syntax("short string is missing its length octet") from None
    if stop > len(encoded):
        raise _syntax("short string overruns its enclosing structure")
    return str(encoded[offset + 1 : stop], "utf-8", "surrogateescape"), stop
