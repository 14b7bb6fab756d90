"""The generated protocol classes: pika's names and signatures, byte-exact codecs, strict decoding."""

from __future__ import annotations

import enum
import inspect
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pika_core import amqp_object, spec
from pika_core.exceptions import FrameError, ShortStringTooLong

ROOT = Path(__file__).resolve().parents[2]
SPEC_JSON = json.loads((ROOT / "tools" / "amqp-rabbitmq-0.9.1.json").read_text(encoding="utf-8"))
DOMAINS = dict(SPEC_JSON["domains"])


# --- an independent reference encoder, driven by the JSON file ---------------------------------


def py_name(name: str) -> str:
    return {"global": "global_qos"}.get(name, name.replace("-", "_"))


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def base_type(arg: dict[str, Any]) -> str:
    kind: str = arg.get("type") or DOMAINS[arg["domain"]]
    return str(DOMAINS.get(kind, kind))


def ref_table(table: dict[str, Any]) -> bytes:
    """Encode a table whose values are str or small int, the slow obvious way."""
    body = bytearray()
    for key, value in table.items():
        raw_key = key.encode()
        body += bytes([len(raw_key)]) + raw_key
        if isinstance(value, str):
            raw = value.encode()
            body += b"S" + struct.pack(">I", len(raw)) + raw
        else:
            body += b"I" + struct.pack(">i", value)
    return struct.pack(">I", len(body)) + bytes(body)


def ref_encode(arguments: list[dict[str, Any]], values: dict[str, Any]) -> bytes:
    out = bytearray()
    bits: list[bool] = []

    def flush() -> None:
        if bits:
            out.append(sum(1 << i for i, bit in enumerate(bits) if bit))
            bits.clear()

    for arg in arguments:
        kind = base_type(arg)
        value = values[py_name(arg["name"])]
        if kind == "bit":
            bits.append(bool(value))
            if len(bits) == 8:
                flush()
            continue
        flush()
        if kind == "octet":
            out += struct.pack(">B", value)
        elif kind == "short":
            out += struct.pack(">H", value)
        elif kind == "long":
            out += struct.pack(">I", value)
        elif kind in ("longlong", "timestamp"):
            out += struct.pack(">Q", value)
        elif kind == "shortstr":
            raw = value.encode()
            out += bytes([len(raw)]) + raw
        elif kind == "longstr":
            raw = value if isinstance(value, bytes) else value.encode()
            out += struct.pack(">I", len(raw)) + raw
        elif kind == "table":
            out += ref_table(value)
        else:
            raise AssertionError(kind)
    flush()
    return bytes(out)


def sample_values(arguments: list[dict[str, Any]], flip: bool) -> dict[str, Any]:
    """Non-default values of every field; bits alternate so that bit order matters."""
    values: dict[str, Any] = {}
    for position, arg in enumerate(arguments):
        kind = base_type(arg)
        name = py_name(arg["name"])
        samples = {
            "bit": (position % 2 == 0) != flip,
            "octet": 0xA0 + position,
            "short": 0xBEE0 + position,
            "long": 0xDEADBE00 + position,
            "longlong": 0xFEEDFACECAFE0000 + position,
            "timestamp": 1700000000 + position,
            "shortstr": f"{name}-välue",
            "longstr": f"long-{name}".encode(),
            "table": {"k": name, "n": position},
        }
        values[name] = samples[kind]
    return values


ALL_METHODS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (cls, method) for cls in SPEC_JSON["classes"] for method in cls["methods"]
]
METHOD_IDS = [f"{c['name']}.{m['name']}" for c, m in ALL_METHODS]


def method_class(cls: dict[str, Any], method: dict[str, Any]) -> type[amqp_object.Method]:
    return getattr(getattr(spec, class_name(cls["name"])), class_name(method["name"]))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("cls", "method"), ALL_METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("flip", [False, True])
def test_every_method_encodes_like_the_reference(
    cls: dict[str, Any], method: dict[str, Any], flip: bool
) -> None:
    values = sample_values(method["arguments"], flip)
    klass = method_class(cls, method)
    instance = klass(**values)
    encoded = instance.encode()
    assert encoded == ref_encode(method["arguments"], values)
    decoded = klass._unpack(encoded, 0, len(encoded))
    assert decoded == instance
    assert type(decoded) is klass
    assert klass().decode(encoded) == instance


@pytest.mark.parametrize(("cls", "method"), ALL_METHODS, ids=METHOD_IDS)
def test_every_method_has_pikas_identity(cls: dict[str, Any], method: dict[str, Any]) -> None:
    klass = method_class(cls, method)
    index = (cls["id"] << 16) | method["id"]
    assert klass.INDEX == index
    assert klass._INDEX_BYTES == struct.pack(">I", index)
    assert klass.NAME == f"{class_name(cls['name'])}.{class_name(method['name'])}"
    assert klass.synchronous is bool(method.get("synchronous"))
    assert spec.methods[index] is klass
    assert spec.has_content(index) is bool(method.get("content"))
    assert issubclass(klass, amqp_object.Method)
    assert [py_name(a["name"]) for a in method["arguments"]] == list(klass._FIELDS)
    instance = klass()
    assert not hasattr(instance, "__dict__")
    with pytest.raises(AttributeError):
        instance.not_a_field = 1  # type: ignore[attr-defined]


def test_methods_table_is_complete() -> None:
    assert len(spec.methods) == len(ALL_METHODS) == 66
    assert spec.props == {60: spec.BasicProperties}
    content = {index for index in spec.methods if spec.has_content(index)}
    assert content == {
        spec.Basic.Publish.INDEX,
        spec.Basic.Return.INDEX,
        spec.Basic.Deliver.INDEX,
        spec.Basic.GetOk.INDEX,
    }
    assert not spec.has_content(0)


def test_classes() -> None:
    expected = {
        "Connection": 10,
        "Channel": 20,
        "Access": 30,
        "Exchange": 40,
        "Queue": 50,
        "Basic": 60,
        "Tx": 90,
        "Confirm": 85,
    }
    for name, index in expected.items():
        klass = getattr(spec, name)
        assert issubclass(klass, amqp_object.Class)
        assert klass.INDEX == index
        assert klass.NAME == name


def test_constants() -> None:
    assert spec.PROTOCOL_VERSION == (0, 9, 1)
    assert spec.PORT == 5672
    expected = {
        "FRAME_METHOD": 1,
        "FRAME_HEADER": 2,
        "FRAME_BODY": 3,
        "FRAME_HEARTBEAT": 8,
        "FRAME_MIN_SIZE": 4096,
        "FRAME_END": 206,
        "FRAME_END_SIZE": 1,
        "FRAME_HEADER_SIZE": 7,
        "FRAME_MAX_SIZE": 131072,
        "REPLY_SUCCESS": 200,
        "CONTENT_TOO_LARGE": 311,
        "NO_ROUTE": 312,
        "NO_CONSUMERS": 313,
        "CONNECTION_FORCED": 320,
        "INVALID_PATH": 402,
        "ACCESS_REFUSED": 403,
        "NOT_FOUND": 404,
        "RESOURCE_LOCKED": 405,
        "PRECONDITION_FAILED": 406,
        "FRAME_ERROR": 501,
        "SYNTAX_ERROR": 502,
        "COMMAND_INVALID": 503,
        "CHANNEL_ERROR": 504,
        "UNEXPECTED_FRAME": 505,
        "RESOURCE_ERROR": 506,
        "NOT_ALLOWED": 530,
        "NOT_IMPLEMENTED": 540,
        "INTERNAL_ERROR": 541,
        "PERSISTENT_DELIVERY_MODE": 2,
        "TRANSIENT_DELIVERY_MODE": 1,
    }
    for name, value in expected.items():
        assert getattr(spec, name) == value, name


# pika 1.x's __init__ signatures, written out by hand. Two deliberate differences:
# Exchange.Declare's type defaults to "direct" (pika: ExchangeType.direct, whose value that is),
# and Connection.UpdateSecret's arguments default to None (pika: required).
PIKA_SIGNATURES = {
    "Connection.Start": "version_major=0, version_minor=9, server_properties=None, "
    "mechanisms='PLAIN', locales='en_US'",
    "Connection.StartOk": "client_properties=None, mechanism='PLAIN', response=None, locale='en_US'",
    "Connection.Secure": "challenge=None",
    "Connection.SecureOk": "response=None",
    "Connection.Tune": "channel_max=0, frame_max=0, heartbeat=0",
    "Connection.TuneOk": "channel_max=0, frame_max=0, heartbeat=0",
    "Connection.Open": "virtual_host='/', capabilities='', insist=False",
    "Connection.OpenOk": "known_hosts=''",
    "Connection.Close": "reply_code=None, reply_text='', class_id=None, method_id=None",
    "Connection.CloseOk": "",
    "Connection.Blocked": "reason=''",
    "Connection.Unblocked": "",
    "Connection.UpdateSecret": "new_secret=None, reason=None",
    "Connection.UpdateSecretOk": "",
    "Channel.Open": "out_of_band=''",
    "Channel.OpenOk": "channel_id=''",
    "Channel.Flow": "active=None",
    "Channel.FlowOk": "active=None",
    "Channel.Close": "reply_code=None, reply_text='', class_id=None, method_id=None",
    "Channel.CloseOk": "",
    "Access.Request": "realm='/data', exclusive=False, passive=True, active=True, write=True, "
    "read=True",
    "Access.RequestOk": "ticket=1",
    "Exchange.Declare": "ticket=0, exchange=None, type='direct', passive=False, durable=False, "
    "auto_delete=False, internal=False, nowait=False, arguments=None",
    "Exchange.DeclareOk": "",
    "Exchange.Delete": "ticket=0, exchange=None, if_unused=False, nowait=False",
    "Exchange.DeleteOk": "",
    "Exchange.Bind": "ticket=0, destination=None, source=None, routing_key='', nowait=False, "
    "arguments=None",
    "Exchange.BindOk": "",
    "Exchange.Unbind": "ticket=0, destination=None, source=None, routing_key='', nowait=False, "
    "arguments=None",
    "Exchange.UnbindOk": "",
    "Queue.Declare": "ticket=0, queue='', passive=False, durable=False, exclusive=False, "
    "auto_delete=False, nowait=False, arguments=None",
    "Queue.DeclareOk": "queue=None, message_count=None, consumer_count=None",
    "Queue.Bind": "ticket=0, queue='', exchange=None, routing_key='', nowait=False, arguments=None",
    "Queue.BindOk": "",
    "Queue.Purge": "ticket=0, queue='', nowait=False",
    "Queue.PurgeOk": "message_count=None",
    "Queue.Delete": "ticket=0, queue='', if_unused=False, if_empty=False, nowait=False",
    "Queue.DeleteOk": "message_count=None",
    "Queue.Unbind": "ticket=0, queue='', exchange=None, routing_key='', arguments=None",
    "Queue.UnbindOk": "",
    "Basic.Qos": "prefetch_size=0, prefetch_count=0, global_qos=False",
    "Basic.QosOk": "",
    "Basic.Consume": "ticket=0, queue='', consumer_tag='', no_local=False, no_ack=False, "
    "exclusive=False, nowait=False, arguments=None",
    "Basic.ConsumeOk": "consumer_tag=None",
    "Basic.Cancel": "consumer_tag=None, nowait=False",
    "Basic.CancelOk": "consumer_tag=None",
    "Basic.Publish": "ticket=0, exchange='', routing_key='', mandatory=False, immediate=False",
    "Basic.Return": "reply_code=None, reply_text='', exchange=None, routing_key=None",
    "Basic.Deliver": "consumer_tag=None, delivery_tag=None, redelivered=False, exchange=None, "
    "routing_key=None",
    "Basic.Get": "ticket=0, queue='', no_ack=False",
    "Basic.GetOk": "delivery_tag=None, redelivered=False, exchange=None, routing_key=None, "
    "message_count=None",
    "Basic.GetEmpty": "cluster_id=''",
    "Basic.Ack": "delivery_tag=0, multiple=False",
    "Basic.Reject": "delivery_tag=None, requeue=True",
    "Basic.RecoverAsync": "requeue=False",
    "Basic.Recover": "requeue=False",
    "Basic.RecoverOk": "",
    "Basic.Nack": "delivery_tag=0, multiple=False, requeue=True",
    "Tx.Select": "",
    "Tx.SelectOk": "",
    "Tx.Commit": "",
    "Tx.CommitOk": "",
    "Tx.Rollback": "",
    "Tx.RollbackOk": "",
    "Confirm.Select": "nowait=False",
    "Confirm.SelectOk": "",
}


def rendered_signature(klass: type) -> str:
    params = list(inspect.signature(klass.__init__).parameters.values())[1:]  # type: ignore[misc]
    return ", ".join(f"{p.name}={p.default!r}" for p in params)


def test_signatures_match_pika() -> None:
    assert sorted(PIKA_SIGNATURES) == sorted(k.NAME for k in spec.methods.values())
    for klass in spec.methods.values():
        assert rendered_signature(klass) == PIKA_SIGNATURES[klass.NAME], klass.NAME
    props = rendered_signature(spec.BasicProperties)
    assert props == ", ".join(f"{name}=None" for name in PROPERTY_NAMES)


def test_positional_arguments_follow_pikas_order() -> None:
    publish = spec.Basic.Publish(0, "ex", "rk", True)
    assert (publish.exchange, publish.routing_key, publish.mandatory) == ("ex", "rk", True)
    deliver = spec.Basic.Deliver("ctag", 7, True, "ex", "rk")
    assert (deliver.consumer_tag, deliver.delivery_tag, deliver.routing_key) == ("ctag", 7, "rk")
    qos = spec.Basic.Qos(0, 10, True)
    assert (qos.prefetch_count, qos.global_qos) == (10, True)


# --- hand-written byte literals ---------------------------------------------------------------

ARGS_TABLE = b"\x00\x00\x00\x12\x0cx-max-lengthI\x00\x00\x00\x0a"

LITERALS: list[tuple[amqp_object.AMQPObject, bytes]] = [
    (
        spec.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True),
        b"\x00\x00\x02ex\x02rk\x01",
    ),
    (spec.Basic.Publish(), b"\x00\x00\x00\x00\x00"),
    (
        spec.Basic.Deliver("ctag", 1, True, "", "q"),
        b"\x04ctag\x00\x00\x00\x00\x00\x00\x00\x01\x01\x00\x01q",
    ),
    (spec.Basic.Ack(delivery_tag=5, multiple=True), b"\x00\x00\x00\x00\x00\x00\x00\x05\x01"),
    (spec.Basic.Nack(delivery_tag=7, multiple=False), b"\x00\x00\x00\x00\x00\x00\x00\x07\x02"),
    (spec.Basic.Reject(delivery_tag=2, requeue=False), b"\x00\x00\x00\x00\x00\x00\x00\x02\x00"),
    (spec.Connection.Tune(2047, 131072, 60), b"\x07\xff\x00\x02\x00\x00\x00\x3c"),
    (
        spec.Queue.Declare(queue="q", durable=True, arguments={"x-max-length": 10}),
        b"\x00\x00\x01q\x02" + ARGS_TABLE,
    ),
    (spec.Queue.Declare(), b"\x00\x00\x00\x00\x00\x00\x00\x00"),
    (spec.Confirm.Select(), b"\x00"),
    (spec.Confirm.Select(nowait=True), b"\x01"),
    (spec.Connection.Blocked(reason="low on memory"), b"\x0dlow on memory"),
    (spec.Connection.Unblocked(), b""),
    (spec.Basic.Qos(prefetch_count=10), b"\x00\x00\x00\x00\x00\x0a\x00"),
    (
        spec.Channel.Close(406, "PRECONDITION_FAILED", 60, 80),
        b"\x01\x96\x13PRECONDITION_FAILED\x00\x3c\x00\x50",
    ),
    (
        spec.Exchange.Declare(exchange="logs", type="fanout", durable=True, arguments={}),
        b"\x00\x00\x04logs\x06fanout\x02\x00\x00\x00\x00",
    ),
    (spec.Connection.UpdateSecret(b"tok", "r"), b"\x00\x00\x00\x03tok\x01r"),
    (
        spec.Connection.Open(virtual_host="/"),
        b"\x01/\x00\x00",
    ),
    (
        spec.BasicProperties(
            content_type="application/json",
            headers={"a": "b"},
            delivery_mode=2,
            priority=5,
            correlation_id="c1",
            timestamp=1700000000,
        ),
        b"\xbc\x40"
        + b"\x10application/json"
        + b"\x00\x00\x00\x08\x01aS\x00\x00\x00\x01b"
        + b"\x02\x05"
        + b"\x02c1"
        + struct.pack(">Q", 1700000000),
    ),
    (spec.BasicProperties(), b"\x00\x00"),
    (spec.BasicProperties(cluster_id="c"), b"\x00\x04\x01c"),
]


@pytest.mark.parametrize(("obj", "raw"), LITERALS, ids=lambda v: getattr(v, "NAME", "bytes"))
def test_byte_literals(obj: Any, raw: bytes) -> None:
    assert obj.encode() == raw
    decoded = type(obj)._unpack(raw, 0, len(raw))
    if isinstance(obj, spec.Queue.Declare) and obj.arguments is None:
        assert decoded.arguments == {}
    else:
        assert decoded == obj
    assert decoded.encode() == raw


def test_unpack_reads_only_up_to_end() -> None:
    raw = b"\x00\x00\x02ex\x02rk\x01"
    padded = b"HEAD" + raw + b"\xce\xff\xff"
    decoded = spec.Basic.Publish._unpack(padded, 4, 4 + len(raw))
    assert decoded == spec.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True)
    decoded = spec.Basic.Publish._unpack(bytearray(padded), 4, 4 + len(raw))
    assert decoded.routing_key == "rk"
    # The fast path reads bytes or bytearray; pika's decode() also takes a memoryview.
    decoded = spec.Basic.Publish().decode(memoryview(raw))
    assert decoded.routing_key == "rk" and decoded.mandatory is True


# --- round trips ------------------------------------------------------------------------------

shortstrs = st.text(max_size=40).filter(lambda s: len(s.encode()) <= 255)
small_tables = st.dictionaries(
    st.text(max_size=10),
    st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=10), st.booleans(), st.none()),
    max_size=4,
)
STRATEGIES: dict[str, Any] = {
    "bit": st.booleans(),
    "octet": st.integers(0, 0xFF),
    "short": st.integers(0, 0xFFFF),
    "long": st.integers(0, 0xFFFFFFFF),
    "longlong": st.integers(0, 0xFFFFFFFFFFFFFFFF),
    "timestamp": st.integers(0, 0xFFFFFFFFFFFFFFFF),
    "shortstr": shortstrs,
    "longstr": st.binary(max_size=60),
    "table": small_tables,
}


@st.composite
def method_instances(draw: Any) -> amqp_object.Method:
    cls, method = draw(st.sampled_from(ALL_METHODS))
    kwargs = {py_name(a["name"]): draw(STRATEGIES[base_type(a)]) for a in method["arguments"]}
    return method_class(cls, method)(**kwargs)


@settings(max_examples=400, deadline=None)
@given(method_instances())
def test_decode_encode_round_trip(instance: amqp_object.Method) -> None:
    encoded = instance.encode()
    klass = type(instance)
    assert klass._unpack(encoded, 0, len(encoded)) == instance
    blank = klass.__new__(klass)
    assert blank.decode(b"\x00" + encoded, 1) == instance


BASIC = next(c for c in SPEC_JSON["classes"] if c["name"] == "basic")
PROPERTY_NAMES = [py_name(p["name"]) for p in BASIC["properties"]]


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={py_name(p["name"]): STRATEGIES[p["type"]] for p in BASIC["properties"]},
    )
)
def test_properties_round_trip(kwargs: dict[str, Any]) -> None:
    props = spec.BasicProperties(**kwargs)
    encoded = props.encode()
    assert spec.BasicProperties._unpack(encoded, 0, len(encoded)) == props
    assert spec.BasicProperties().decode(encoded) == props


# --- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "method"), ALL_METHODS, ids=METHOD_IDS)
def test_truncated_and_overlong_arguments_are_syntax_errors(
    cls: dict[str, Any], method: dict[str, Any]
) -> None:
    klass = method_class(cls, method)
    encoded = klass(**sample_values(method["arguments"], False)).encode()
    for cut in range(len(encoded)):
        # The buffer ends at the cut, and then the buffer goes on but the frame ends there.
        for buf in (encoded[:cut], encoded):
            with pytest.raises(FrameError) as info:
                klass._unpack(buf, 0, cut)
            assert info.value.reply_code == 502
    for extra in (b"\x00", b"\xce" * 9):
        with pytest.raises(FrameError) as info:
            klass._unpack(encoded + extra, 0, len(encoded) + len(extra))
        assert info.value.reply_code == 502
        with pytest.raises(FrameError):
            klass().decode(encoded + extra)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_METHODS), st.binary(max_size=80))
def test_random_argument_bytes_raise_only_frame_error(
    pair: tuple[dict[str, Any], dict[str, Any]], raw: bytes
) -> None:
    klass = method_class(*pair)
    try:
        decoded = klass._unpack(raw, 0, len(raw))
    except FrameError as exc:
        assert exc.reply_code == 502
    else:
        assert decoded.encode() is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_property_bytes_raise_only_frame_error(raw: bytes) -> None:
    try:
        spec.BasicProperties._unpack(raw, 0, len(raw))
    except FrameError as exc:
        assert exc.reply_code == 502


def test_properties_truncated_at_every_byte() -> None:
    props = spec.BasicProperties(**sample_values(BASIC["properties"], False))
    encoded = props.encode()
    assert encoded[:2] == b"\xff\xfc"
    for cut in range(len(encoded)):
        for buf in (encoded[:cut], encoded):
            with pytest.raises(FrameError):
                spec.BasicProperties._unpack(buf, 0, cut)
    with pytest.raises(FrameError):
        spec.BasicProperties._unpack(encoded + b"\x00", 0, len(encoded) + 1)


def test_properties_flag_words() -> None:
    # Bit 1 is no property of basic: reject, since the layout of what follows is unknown.
    with pytest.raises(FrameError, match="unknown property flags"):
        spec.BasicProperties._unpack(b"\x00\x02", 0, 2)
    # A continuation word with no flags set is legal.
    assert spec.BasicProperties._unpack(b"\x80\x01\x00\x00\x01c", 0, 6) == spec.BasicProperties(
        content_type="c"
    )
    with pytest.raises(FrameError, match="unknown property flags"):
        spec.BasicProperties._unpack(b"\x00\x01\x80\x00", 0, 4)
    with pytest.raises(FrameError):
        spec.BasicProperties._unpack(b"\x00\x01", 0, 2)


# --- encode errors ----------------------------------------------------------------------------


def test_short_string_over_255_bytes_raises() -> None:
    with pytest.raises(ShortStringTooLong):
        spec.Basic.Publish(exchange="x" * 256).encode()
    with pytest.raises(ShortStringTooLong):
        spec.BasicProperties(message_id="é" * 128).encode()
    with pytest.raises(ShortStringTooLong):
        spec.Queue.Declare(queue="q", arguments={"k" * 256: 1}).encode()
    assert len(spec.Basic.Publish(exchange="x" * 255).encode()) == 2 + 256 + 1 + 1


@pytest.mark.parametrize(
    ("obj", "error", "text"),
    [
        (spec.Basic.Publish(exchange=5), TypeError, "Basic.Publish.exchange"),  # type: ignore[arg-type]
        (spec.Basic.Deliver(), TypeError, "Basic.Deliver.consumer_tag"),
        (spec.Basic.Ack(delivery_tag="1"), TypeError, "Basic.Ack.delivery_tag must be an int"),  # type: ignore[arg-type]
        (spec.Basic.Ack(delivery_tag=-1), ValueError, "Basic.Ack.delivery_tag=-1 is out of range"),
        (spec.Connection.Tune(channel_max=70000), ValueError, "Connection.Tune.channel_max"),
        (spec.Connection.StartOk(response=None), TypeError, "Connection.StartOk.response"),
        (
            spec.Queue.Declare(arguments={"x": object()}),
            TypeError,
            "Queue.Declare.arguments: field 'x'",
        ),
        (spec.Queue.Declare(arguments=[1]), TypeError, "Queue.Declare.arguments"),  # type: ignore[arg-type]
        (spec.BasicProperties(priority=300), ValueError, "BasicProperties.priority"),
        (spec.BasicProperties(headers={"t": {1, 2}}), TypeError, "BasicProperties.headers"),
        (spec.BasicProperties(app_id=3), TypeError, "BasicProperties.app_id"),  # type: ignore[arg-type]
    ],
)
def test_encode_errors_name_the_field(obj: Any, error: type, text: str) -> None:
    with pytest.raises(error, match=text.replace(".", r"\.").replace("(", r"\(")):
        obj.encode()


def test_encode_error_falls_back_to_the_method_name() -> None:
    class Unbooleanable:
        def __bool__(self) -> bool:
            raise TypeError("no truth here")

    with pytest.raises(TypeError, match="Basic.Publish could not be encoded: no truth here"):
        spec.Basic.Publish(mandatory=Unbooleanable()).encode()  # type: ignore[arg-type]


def test_exchange_type_enum_member_is_encoded_by_value() -> None:
    class ExchangeType(enum.Enum):
        topic = "topic"

    declare = spec.Exchange.Declare(exchange="e", type=ExchangeType.topic)  # type: ignore[arg-type]
    assert declare.encode() == spec.Exchange.Declare(exchange="e", type="topic").encode()


class DeliveryMode(enum.Enum):
    Transient = 1
    Persistent = 2


def test_delivery_mode_enum_is_stored_as_int() -> None:
    props = spec.BasicProperties(delivery_mode=DeliveryMode.Persistent)
    assert props.delivery_mode == 2
    assert type(props.delivery_mode) is int
    assert props.encode() == b"\x10\x00\x02"
    props.delivery_mode = DeliveryMode.Transient
    assert props.encode() == b"\x10\x00\x01"
    props.delivery_mode = "2"
    with pytest.raises(TypeError, match="BasicProperties.delivery_mode must be an int"):
        props.encode()


def test_properties_identity() -> None:
    assert spec.BasicProperties.CLASS is spec.Basic
    assert spec.BasicProperties.INDEX == 60
    assert spec.BasicProperties.NAME == "BasicProperties"
    assert list(spec.BasicProperties._FIELDS) == PROPERTY_NAMES
    assert PROPERTY_NAMES == [
        "content_type",
        "content_encoding",
        "headers",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    ]
    for position, name in enumerate(PROPERTY_NAMES):
        assert getattr(spec.BasicProperties, f"FLAG_{name.upper()}") == 1 << (15 - position)
    assert not hasattr(spec.BasicProperties(), "__dict__")


def test_repr_hides_credentials() -> None:
    start_ok = spec.Connection.StartOk(response=b"\x00guest\x00s3cret")
    assert "s3cret" not in repr(start_ok)
    assert "response=<redacted>" in repr(start_ok)
    assert "s3cret" not in repr(spec.Connection.UpdateSecret(b"s3cret", "rotate"))
    assert "s3cret" not in repr(spec.Connection.SecureOk(b"s3cret"))


def test_generated_file_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_spec.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_detects_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_spec
    finally:
        sys.path.remove(str(ROOT / "tools"))
    stale = tmp_path / "spec.py"
    stale.write_text(
        (ROOT / "pika_core" / "spec.py")
        .read_text(encoding="utf-8")
        .replace("PORT = 5672", "PORT = 1")
    )
    monkeypatch.setattr(gen_spec, "SPEC_PY", stale)
    assert gen_spec.main(["--check"]) == 1
    assert gen_spec.main([]) == 0
    assert gen_spec.main(["--check"]) == 0


class _Unbooleanable:
    def __bool__(self) -> bool:
        raise TypeError("no truth here")


@pytest.mark.parametrize(
    ("cls", "method"), [p for p in ALL_METHODS if p[1]["arguments"]], ids=lambda v: v["name"]
)
def test_every_method_names_the_bad_field(cls: dict[str, Any], method: dict[str, Any]) -> None:
    klass = method_class(cls, method)
    values = sample_values(method["arguments"], False)
    plain = [a for a in method["arguments"] if base_type(a) != "bit"]
    if plain:
        name = py_name(plain[0]["name"])
        values[name] = object()
        text = f"{klass.NAME}.{name}"
    else:
        values[py_name(method["arguments"][0]["name"])] = _Unbooleanable()
        text = f"{klass.NAME} could not be encoded"
    with pytest.raises(TypeError, match=text.replace(".", r"\.")):
        klass(**values).encode()


# --- the decoders specialised per flags word ------------------------------------------------

PROPERTY_VALUES: dict[str, Any] = {
    "content_type": "application/json",
    "content_encoding": "gzip",
    "headers": {"a": 1, "b": "two"},
    "delivery_mode": 2,
    "priority": 7,
    "correlation_id": "corr",
    "reply_to": "amq.rabbitmq.reply-to",
    "expiration": "60000",
    "message_id": "m\udcff",
    "timestamp": 1_700_000_000,
    "type": "t",
    "user_id": "guest",
    "app_id": "app",
    "cluster_id": "c",
}


@settings(max_examples=300, deadline=None)
@given(st.integers(0, (1 << 14) - 1))
def test_specialised_property_decoders_match_the_generic_one(present: int) -> None:
    fields = spec.BasicProperties._FIELDS
    chosen = {name: PROPERTY_VALUES[name] for i, name in enumerate(fields) if present >> i & 1}
    encoded = spec.BasicProperties(**chosen).encode()
    fast = spec.BasicProperties._unpack(encoded, 0, len(encoded))
    slow = spec.BasicProperties._unpack_generic(encoded, 0, len(encoded))
    assert fast == slow == spec.BasicProperties(**chosen)
    assert all(getattr(fast, name) is None for name in fields if name not in chosen)
    assert len(spec._BASIC_PROPERTIES_DECODERS) <= spec._DECODERS_MAX
    # Every truncation is still a syntax error, from the specialised decoder too.
    for cut in range(2, len(encoded)):
        with pytest.raises(FrameError) as info:
            spec.BasicProperties._unpack(encoded, 0, cut)
        assert info.value.reply_code == 502


def test_unknown_property_flags_are_rejected_by_the_dispatcher() -> None:
    for flags in (0x0002, 0x8002):
        with pytest.raises(FrameError) as info:
            spec.BasicProperties._unpack(struct.pack(">H", flags) + b"\x00", 0, 3)
        assert info.value.reply_code == 502


def test_unpacked_methods_and_properties_are_complete_instances() -> None:
    deliver = spec.Basic.Deliver("ctag", 5, True, "ex", "rk")
    decoded = spec.Basic.Deliver._unpack(deliver.encode(), 0, len(deliver.encode()))
    assert decoded == deliver and decoded.get_properties() is None and decoded.get_body() is None
    decoded.routing_key = "changed"
    assert decoded.routing_key == "changed"


def test_cached_short_string_encodings_follow_the_value() -> None:
    for content_type in ("a/b", "c/d", "a/b", "x" * 255):
        props = spec.BasicProperties(content_type=content_type)
        assert spec.BasicProperties().decode(props.encode()).content_type == content_type
    with pytest.raises(ShortStringTooLong):
        spec.BasicProperties(content_type="x" * 256).encode()
    with pytest.raises(TypeError):
        spec.BasicProperties(content_type=["not", "hashable"]).encode()  # type: ignore[arg-type]
