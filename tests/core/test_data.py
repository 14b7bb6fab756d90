"""Field values and tables: every type both ways, RabbitMQ's own headers, strict decoding."""

from __future__ import annotations

import enum
import struct
from collections import OrderedDict
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pika_core import data
from pika_core.data import Long
from pika_core.exceptions import FrameError, ShortStringTooLong

UTC = timezone.utc


def table(*entries: bytes) -> bytes:
    """A length-prefixed table built by hand from encoded entries."""
    body = b"".join(entries)
    return struct.pack(">I", len(body)) + body


def key(name: str) -> bytes:
    raw = name.encode()
    return bytes((len(raw),)) + raw


def longstr(tag: bytes, raw: bytes) -> bytes:
    return tag + struct.pack(">I", len(raw)) + raw


def array(*items: bytes) -> bytes:
    body = b"".join(items)
    return b"A" + struct.pack(">I", len(body)) + body


def encode_one(value: Any) -> bytes:
    pieces: list[bytes] = []
    count = data.encode_value(pieces, value, "k")
    assert count == len(b"".join(pieces))
    return b"".join(pieces)


def decode_one(raw: bytes) -> Any:
    value, offset = data.decode_value(raw, 0)
    assert offset == len(raw)
    return value


def assert_syntax_error(raw: bytes, offset: int = 0) -> FrameError:
    with pytest.raises(FrameError) as info:
        data.decode_table(raw, offset)
    assert info.value.reply_code == 502
    return info.value


# --- decoding every tag ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "kind"),
    [
        (b"t\x01", True, bool),
        (b"t\x00", False, bool),
        (b"b\xff", -1, int),
        (b"B\xff", 255, int),
        (b"s\xff\xfe", -2, int),
        (b"u\xff\xfe", 65534, int),
        (b"I\xff\xff\xff\xfd", -3, int),
        (b"i\xff\xff\xff\xfd", 4294967293, int),
        (b"l\xff\xff\xff\xff\xff\xff\xff\xfc", -4, Long),
        (b"f" + struct.pack(">f", 1.5), 1.5, float),
        (b"d" + struct.pack(">d", -2.25), -2.25, float),
        (b"D\x02\x00\x00\x00\x96", Decimal("1.50"), Decimal),
        (b"D\x00\xff\xff\xff\xff", Decimal(-1), Decimal),
        (longstr(b"S", "héllo".encode()), "héllo", str),
        (longstr(b"x", b"\x00\xff"), b"\x00\xff", bytes),
        (
            b"T" + struct.pack(">Q", 1700000000),
            datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
            datetime,
        ),
        (b"V", None, type(None)),
        (array(b"I\x00\x00\x00\x01", b"V"), [1, None], list),
        (b"F" + table(key("a"), b"t\x01"), {"a": True}, dict),
    ],
)
def test_decode_each_type(raw: bytes, expected: Any, kind: type) -> None:
    value = decode_one(raw)
    assert value == expected
    assert type(value) is kind


def test_decoded_decimal_keeps_its_scale() -> None:
    value = decode_one(b"D\x03\x00\x00\x04\xd2")
    assert str(value) == "1.234"
    assert str(decode_one(b"D\x02\x00\x00\x00\x00")) == "0.00"


def test_decoded_timestamp_is_aware_utc() -> None:
    value = decode_one(b"T" + struct.pack(">Q", 0))
    assert value.tzinfo is UTC
    assert value == datetime(1970, 1, 1, tzinfo=UTC)


# --- encoding every Python type ---------------------------------------------------------------


class Colour(enum.IntEnum):
    RED = 7


class Mode(str, enum.Enum):
    FAST = "fast"


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        (True, b"t\x01"),
        (False, b"t\x00"),
        (0, b"I\x00\x00\x00\x00"),
        (-(2**31), b"I\x80\x00\x00\x00"),
        (2**31 - 1, b"I\x7f\xff\xff\xff"),
        (2**31, b"l\x00\x00\x00\x00\x80\x00\x00\x00"),
        (-(2**31) - 1, b"l\xff\xff\xff\xff\x7f\xff\xff\xff"),
        (2**63 - 1, b"l\x7f\xff\xff\xff\xff\xff\xff\xff"),
        (Long(1), b"l\x00\x00\x00\x00\x00\x00\x00\x01"),
        (Colour.RED, b"I\x00\x00\x00\x07"),
        (1.5, b"d" + struct.pack(">d", 1.5)),
        (Decimal("1.50"), b"D\x02\x00\x00\x00\x96"),
        (Decimal("-12.5"), b"D\x01\xff\xff\xff\x83"),
        (Decimal("12E+3"), b"D\x00\x00\x00\x2e\xe0"),
        (Decimal("0E+5"), b"D\x00\x00\x00\x00\x00"),
        ("hé", longstr(b"S", "hé".encode())),
        (Mode.FAST, longstr(b"S", b"fast")),
        (b"\x00\x01", longstr(b"x", b"\x00\x01")),
        (bytearray(b"ab"), longstr(b"x", b"ab")),
        ([1, "a"], array(b"I\x00\x00\x00\x01", longstr(b"S", b"a"))),
        ((None,), array(b"V")),
        (datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), b"T" + struct.pack(">Q", 1700000000)),
        (datetime(2023, 11, 14, 22, 13, 20), b"T" + struct.pack(">Q", 1700000000)),
        ({"a": None}, b"F" + table(key("a"), b"V")),
        (OrderedDict([("z", 1)]), b"F" + table(key("z"), b"I\x00\x00\x00\x01")),
        (None, b"V"),
    ],
)
def test_encode_each_type(value: Any, raw: bytes) -> None:
    assert encode_one(value) == raw


def test_naive_and_aware_datetimes_mean_the_same_instant() -> None:
    from datetime import timedelta

    plus_two = timezone(timedelta(hours=2))
    aware = datetime(2023, 11, 15, 0, 13, 20, tzinfo=plus_two)
    assert encode_one(aware) == encode_one(datetime(2023, 11, 14, 22, 13, 20))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, Long(2**64)])
def test_integer_too_large_raises_type_error_naming_the_key(value: int) -> None:
    pieces: list[bytes] = []
    with pytest.raises(TypeError, match="'big'"):
        data.encode_table(pieces, {"ok": 1, "big": value})
    assert pieces == []


@pytest.mark.parametrize(
    "value",
    [
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal(12345678901),
        Decimal("1E+10"),
        Decimal("1E-256"),
    ],
)
def test_unrepresentable_decimal_names_the_key(value: Decimal) -> None:
    with pytest.raises(ValueError, match="'price'"):
        data.table_bytes({"price": value})


def test_datetime_before_1970_names_the_key() -> None:
    with pytest.raises(ValueError, match="'when'"):
        data.table_bytes({"when": datetime(1960, 1, 1)})


@pytest.mark.parametrize("value", [{1, 2}, object(), 1j, frozenset()])
def test_unsupported_type_raises_type_error_naming_the_key(value: Any) -> None:
    with pytest.raises(TypeError, match="'odd'"):
        data.table_bytes({"odd": value})


def test_unsupported_type_inside_an_array_names_the_enclosing_key() -> None:
    with pytest.raises(TypeError, match="'items'"):
        data.table_bytes({"items": [1, object()]})


def test_key_over_255_bytes_raises_before_anything_is_produced() -> None:
    pieces: list[bytes] = [b"before"]
    with pytest.raises(ShortStringTooLong):
        data.encode_table(pieces, {"fine": 1, "é" * 128: 2})
    assert pieces == [b"before"]
    assert len(data.table_bytes({"k" * 255: 1})) == 4 + 1 + 255 + 5


def test_nested_key_over_255_bytes_raises() -> None:
    with pytest.raises(ShortStringTooLong):
        data.table_bytes({"outer": {"x" * 256: 1}})


def test_non_string_key_raises_type_error() -> None:
    with pytest.raises(TypeError, match="key 1"):
        data.table_bytes({1: "a"})  # type: ignore[dict-item]


def test_bytes_keys_are_accepted() -> None:
    assert data.table_bytes({b"k": 1}) == data.table_bytes({"k": 1})  # type: ignore[dict-item]


def test_table_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="dict"):
        data.table_bytes([("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dict"):
        data.table_bytes([])  # type: ignore[arg-type]


def test_empty_and_none_tables() -> None:
    assert data.table_bytes(None) == b"\x00\x00\x00\x00"
    assert data.table_bytes({}) == b"\x00\x00\x00\x00"
    pieces: list[bytes] = []
    assert data.encode_table(pieces, None) == 4
    assert pieces == [b"\x00\x00\x00\x00"]
    assert data.decode_table(b"\x00\x00\x00\x00", 0) == ({}, 4)


def test_encode_nesting_limit_and_cycles() -> None:
    ok: dict[str, Any] = {}
    inner = ok
    for _ in range(data.MAX_DEPTH):
        inner["n"] = {}
        inner = inner["n"]
    encoded = data.table_bytes(ok)
    assert data.decode_table(encoded, 0) == (ok, len(encoded))
    inner["n"] = {}
    with pytest.raises(ValueError, match="deeper than 32"):
        data.table_bytes(ok)
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(ValueError, match="deeper than 32"):
        data.table_bytes(cyclic)
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="deeper than 32"):
        data.table_bytes({"a": looped})


def test_short_strings() -> None:
    pieces: list[bytes] = []
    assert data.encode_short_string(pieces, "abc") == 4
    assert pieces == [b"\x03abc"]
    assert data.shortstr_bytes(b"\x00") == b"\x01\x00"
    assert data.shortstr_bytes("x" * 255)[0] == 255
    with pytest.raises(ShortStringTooLong):
        data.shortstr_bytes("x" * 256)
    with pytest.raises(ShortStringTooLong):
        data.encode_short_string([], "€" * 86)
    with pytest.raises(TypeError, match="str or bytes"):
        data.shortstr_bytes(5)  # type: ignore[arg-type]
    assert data.decode_short_string(b"\x00\x03abc", 1) == ("abc", 5)


def test_short_string_accepts_str_enum_members() -> None:
    class Kind(enum.Enum):
        topic = "topic"

    assert data.shortstr_bytes(Kind.topic) == b"\x05topic"  # type: ignore[arg-type]
    assert data.shortstr_bytes(Mode.FAST) == b"\x04fast"


def test_long_strings() -> None:
    assert data.longstr_bytes("é") == b"\x00\x00\x00\x02\xc3\xa9"
    assert data.longstr_bytes(b"ab") == b"\x00\x00\x00\x02ab"
    assert data.longstr_bytes(bytearray(b"a")) == b"\x00\x00\x00\x01a"  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str or bytes"):
        data.longstr_bytes(None)  # type: ignore[arg-type]


def test_undecodable_utf8_round_trips_to_the_same_bytes() -> None:
    raw = table(key("k"), longstr(b"S", b"\xff\xfe ok"), b"\x02\xc3\x28" + b"V")
    decoded, _ = data.decode_table(raw, 0)
    assert decoded["k"] == "\udcff\udcfe ok"
    assert data.table_bytes(decoded) == raw
    text, _ = data.decode_short_string(b"\x01\xff", 0)
    assert data.shortstr_bytes(text) == b"\x01\xff"


def test_decode_table_at_an_offset() -> None:
    raw = b"junk" + table(key("a"), b"B\x05") + b"tail"
    assert data.decode_table(raw, 4) == ({"a": 5}, len(raw) - 4)


def test_read_table_honours_the_end_bound() -> None:
    raw = table(key("a"), b"B\x05")
    with pytest.raises(FrameError):
        data.read_table(raw, 0, len(raw) - 1)
    assert data.read_table(raw + b"more", 0, len(raw)) == ({"a": 5}, len(raw))


def test_decode_accepts_bytearray_and_memoryview() -> None:
    raw = table(key("s"), longstr(b"S", b"v"), key("x"), longstr(b"x", b"b"))
    for buf in (bytearray(raw), memoryview(raw)):
        assert data.decode_table(buf, 0) == ({"s": "v", "x": b"b"}, len(raw))


# --- RabbitMQ's own headers -------------------------------------------------------------------


def test_x_death_header_decodes_naturally_and_reencodes_identically() -> None:
    death = b"F" + table(
        key("count"),
        b"l" + struct.pack(">q", 3),
        key("reason"),
        longstr(b"S", b"rejected"),
        key("queue"),
        longstr(b"S", b"work"),
        key("time"),
        b"T" + struct.pack(">Q", 1700000000),
        key("exchange"),
        longstr(b"S", b""),
        key("routing-keys"),
        array(longstr(b"S", b"work"), longstr(b"S", b"cc-key")),
    )
    raw = table(
        key("x-death"),
        array(death),
        key("x-first-death-reason"),
        longstr(b"S", b"rejected"),
        key("x-first-death-queue"),
        longstr(b"S", b"work"),
        key("x-first-death-exchange"),
        longstr(b"S", b""),
        key("CC"),
        array(longstr(b"S", b"other")),
        key("BCC"),
        array(),
        key("x-stream-offset"),
        b"l" + struct.pack(">q", 42),
        key("x-delay"),
        b"I" + struct.pack(">i", -5000),
        key("ratio"),
        b"d" + struct.pack(">d", 0.25),
    )
    headers, offset = data.decode_table(raw, 0)
    assert offset == len(raw)
    first = headers["x-death"][0]
    assert first == {
        "count": 3,
        "reason": "rejected",
        "queue": "work",
        "time": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "exchange": "",
        "routing-keys": ["work", "cc-key"],
    }
    assert type(first["count"]) is Long
    assert type(headers["x-stream-offset"]) is Long
    assert headers["x-delay"] == -5000
    assert headers["ratio"] == 0.25
    assert headers["CC"] == ["other"]
    assert headers["BCC"] == []
    assert data.table_bytes(headers) == raw


def test_long_survives_arithmetic_free_copies() -> None:
    value = decode_one(b"l" + struct.pack(">q", 1))
    assert encode_one(value) == b"l" + struct.pack(">q", 1)
    assert encode_one(int(value)) == b"I\x00\x00\x00\x01"


# --- strict decoding --------------------------------------------------------------------------


def test_table_length_overruns_the_buffer() -> None:
    error = assert_syntax_error(b"\x00\x00\x00\x10" + key("a") + b"V")
    assert "declares 16 bytes" in error.reply_text


def test_truncated_table_length() -> None:
    assert_syntax_error(b"\x00\x00")
    assert_syntax_error(b"")


@pytest.mark.parametrize(
    "raw",
    [
        table(b"\x05ab"),  # key overruns the table
        table(key("a")),  # key without a type tag
        table(key("a"), b"I\x00\x00"),  # value overruns the table
        table(key("a"), b"S\x00\x00\x00\x09abc"),  # long string overruns
        table(key("a"), b"x\x00\x00\x00\x09abc"),  # byte array overruns
        table(key("a"), b"S\x00\x00"),  # long string length overruns
        table(key("a"), b"D\x01\x00"),  # decimal overruns
        table(key("a"), b"l\x00\x00\x00"),  # signed 64-bit overruns
        table(key("a"), b"t"),  # boolean overruns
        table(key("a"), b"F\x00\x00\x00\x09" + key("b") + b"V"),  # nested table overruns
        table(key("a"), b"A\x00\x00\x00\x02I\x00"),  # array element overruns the array
        table(key("a"), b"A\x00\x00\x00\x01") + b"V",  # array overruns the table
    ],
)
def test_overruns_are_syntax_errors(raw: bytes) -> None:
    assert_syntax_error(raw)


def test_inner_lengths_are_bounded_by_the_inner_structure() -> None:
    # The outer table has room for the string, but the nested table that holds it does not.
    inner = b"F" + struct.pack(">I", 6) + key("s") + b"S\x00\x00\x00\x04abcd"
    assert_syntax_error(table(key("t"), inner))


@pytest.mark.parametrize("tag", [b"Z", b"L", b"\x00", b"\xff", b"c"])
def test_unknown_tags_are_rejected(tag: bytes) -> None:
    error = assert_syntax_error(table(key("a"), tag + b"\x00\x00\x00\x00"))
    assert "unknown field type tag" in error.reply_text
    with pytest.raises(FrameError):
        data.decode_table(table(key("a"), array(tag)), 0)


def test_nesting_deeper_than_32_is_rejected() -> None:
    def nested_tables(depth: int) -> bytes:
        raw = table()
        for _ in range(depth):
            raw = table(key("n"), b"F" + raw)
        return raw

    ok = nested_tables(data.MAX_DEPTH)
    value, _ = data.decode_table(ok, 0)
    assert isinstance(value, dict)
    error = assert_syntax_error(nested_tables(data.MAX_DEPTH + 1))
    assert "deeper than 32" in error.reply_text


def test_deep_arrays_do_not_raise_recursion_error() -> None:
    raw = b""
    for _ in range(2000):
        raw = array(raw) if raw else array()
    assert_syntax_error(table(key("a"), raw))


def test_timestamp_out_of_range_is_a_syntax_error() -> None:
    assert_syntax_error(table(key("t"), b"T\xff\xff\xff\xff\xff\xff\xff\xff"))


def test_decode_value_errors() -> None:
    for raw in (b"", b"?", b"I\x00"):
        with pytest.raises(FrameError) as info:
            data.decode_value(raw, 0)
        assert info.value.reply_code == 502


def test_decode_short_string_errors() -> None:
    for raw in (b"", b"\x05abc"):
        with pytest.raises(FrameError) as info:
            data.decode_short_string(raw, 0)
        assert info.value.reply_code == 502


def test_read_table_with_end_beyond_the_buffer_is_a_syntax_error() -> None:
    with pytest.raises(FrameError):
        data.read_table(b"\x00\x00\x00\x03\x01a", 0, 100)


# --- properties -------------------------------------------------------------------------------

keys = st.text(max_size=20).filter(lambda k: len(k.encode()) <= 255)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(Long),
    st.floats(allow_nan=False),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6
    ),
    st.text(max_size=30),
    st.binary(max_size=30),
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: d.replace(microsecond=0)),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
tables = st.dictionaries(keys, values, max_size=6)


@settings(max_examples=150, deadline=None)
@given(tables)
def test_round_trip_generated_tables(value: dict[str, Any]) -> None:
    encoded = data.table_bytes(value)
    decoded, offset = data.decode_table(encoded, 0)
    assert offset == len(encoded)
    assert decoded == value
    assert data.table_bytes(decoded) == encoded


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_frame_error(raw: bytes) -> None:
    for buf in (raw, struct.pack(">I", len(raw)) + raw):
        try:
            value, offset = data.decode_table(buf, 0)
        except FrameError as exc:
            assert exc.reply_code == 502
        else:
            assert isinstance(value, dict)
            assert offset <= len(buf)


@settings(max_examples=100, deadline=None)
@given(tables, st.data())
def test_corrupted_tables_raise_only_frame_error(value: dict[str, Any], draw: Any) -> None:
    encoded = bytearray(data.table_bytes(value))
    position = draw.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[position] = draw.draw(st.integers(min_value=0, max_value=255))
    cut = draw.draw(st.integers(min_value=0, max_value=len(encoded)))
    for buf in (bytes(encoded), bytes(encoded[:cut])):
        try:
            data.decode_table(buf, 0)
        except FrameError as exc:
            assert exc.reply_code == 502


# --- the encoded-table cache ------------------------------------------------------------------


def test_table_cache_tells_equal_values_of_different_types_apart() -> None:
    # 1 == True == 1.0 and they hash alike, but each encodes differently.
    assert data.table_bytes({"a": 1}) == b"\x00\x00\x00\x07\x01aI\x00\x00\x00\x01"
    assert data.table_bytes({"a": True}) == b"\x00\x00\x00\x04\x01at\x01"
    assert data.table_bytes({"a": 1.0}) == b"\x00\x00\x00\x0b\x01ad" + struct.pack(">d", 1.0)
    assert data.table_bytes({"a": 1}) == b"\x00\x00\x00\x07\x01aI\x00\x00\x00\x01"
    assert data.table_bytes({"a": -0.0}) != data.table_bytes({"a": 0.0})


def test_table_cache_follows_changes_to_the_dict() -> None:
    headers: dict[str, Any] = {"trace": "x", "n": 1}
    first = data.table_bytes(headers)
    headers["n"] = 2
    second = data.table_bytes(headers)
    assert first != second
    assert data.decode_table(second, 0)[0] == {"trace": "x", "n": 2}
    headers["extra"] = None
    assert data.decode_table(data.table_bytes(headers), 0)[0] == {
        "trace": "x",
        "n": 2,
        "extra": None,
    }


def test_table_cache_is_bounded_and_errors_are_not_cached() -> None:
    for index in range(data._ENCODED_TABLES_MAX * 3):
        encoded = data.table_bytes({"i": index, "s": str(index)})
        assert data.decode_table(encoded, 0)[0] == {"i": index, "s": str(index)}
    assert len(data._ENCODED_TABLES) <= data._ENCODED_TABLES_MAX
    with pytest.raises(ShortStringTooLong):
        data.table_bytes({"k" * 300: 1})
    with pytest.raises(ShortStringTooLong):
        data.table_bytes({"k" * 300: 1})


def test_memoryview_input_to_the_public_decoders() -> None:
    encoded = data.table_bytes({"a": "b"})
    assert data.decode_table(memoryview(encoded), 0) == ({"a": "b"}, len(encoded))
    assert data.decode_value(memoryview(b"S\x00\x00\x00\x02hi"), 0) == ("hi", 7)


def test_strings_that_are_not_utf8_round_trip_through_surrogateescape() -> None:
    raw = b"\x00\x00\x00\x0b\x02k\xffS\x00\x00\x00\x03a\xfeb"
    table, end = data.decode_table(raw, 0)
    assert end == len(raw)
    assert table == {"k\udcff": "a\udcfeb"}
    assert data.table_bytes(table) == raw
