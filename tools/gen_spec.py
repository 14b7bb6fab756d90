"""Generate pika_core/spec.py from the RabbitMQ AMQP 0-9-1 JSON protocol definition.

Run ``python tools/gen_spec.py`` to rewrite pika_core/spec.py, or
``python tools/gen_spec.py --check`` to exit non-zero when the committed file is stale.
Every method gets its own encoder and decoder, with one precompiled struct per run of
fixed-size fields, so that nothing loops over fields at run time.
"""

from __future__ import annotations

import argparse
import difflib
import json
import struct
import sys
from pathlib import Path
from typing import Any, NamedTuple, Union

ROOT = Path(__file__).resolve().parent.parent
SPEC_JSON = ROOT / "tools" / "amqp-rabbitmq-0.9.1.json"
SPEC_PY = ROOT / "pika_core" / "spec.py"

# pika's attribute names where they differ from the spec's name with '-' -> '_'.
RENAMES = {"global": "global_qos"}
# Fields that carry credentials: masked in repr.
SECRETS = {
    ("connection", "start-ok"): ("response",),
    ("connection", "secure-ok"): ("response",),
    ("connection", "update-secret"): ("new_secret",),
}
# pika's module constants that the JSON file does not define.
EXTRA_CONSTANTS = {
    "FRAME_END_SIZE": 1,
    "FRAME_HEADER_SIZE": 7,
    "FRAME_MAX_SIZE": 131072,
    "PERSISTENT_DELIVERY_MODE": 2,
    "TRANSIENT_DELIVERY_MODE": 1,
}
FIXED_FORMATS = {"octet": "B", "short": "H", "long": "I", "longlong": "Q", "timestamp": "Q"}
ANNOTATIONS = {
    "bit": "bool",
    "octet": "int",
    "short": "int",
    "long": "int",
    "longlong": "int",
    "timestamp": "int",
    "shortstr": "str",
    "longstr": "str | bytes",
    "table": "dict[str, Any]",
}


class Field(NamedTuple):
    """One method argument or content property, resolved to its base AMQP type."""

    name: str
    kind: str
    default: Any
    has_default: bool


class Bits(NamedTuple):
    """Consecutive bit fields sharing one octet."""

    names: list[str]


Item = Union[Field, Bits]


def literal(value: Any) -> str:
    """A Python literal in the project's style (double-quoted strings)."""
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def tuple_literal(items: list[str]) -> str:
    """A tuple of str literals, one-element tuples included."""
    if not items:
        return "()"
    if len(items) == 1:
        return f"({literal(items[0])},)"
    return "(" + ", ".join(literal(i) for i in items) + ")"


def emit_tuple(w: Writer, ind: int, name: str, items: list[str]) -> None:
    """Write `name = (...)`, one item per line when it would not fit on one."""
    line = f"{name} = {tuple_literal(items)}"
    if len(line) + 4 * ind <= 100:
        w.emit(ind, line)
        return
    w.emit(ind, f"{name} = (")
    for item in items:
        w.emit(ind + 1, f"{literal(item)},")
    w.emit(ind, ")")


def camel(name: str) -> str:
    """'start-ok' -> 'StartOk'."""
    return "".join(part.capitalize() for part in name.split("-"))


def snake(name: str) -> str:
    """'BasicProperties' -> 'basic_properties'."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def attr(name: str) -> str:
    """The spec's field name as pika names the attribute."""
    return RENAMES.get(name, name.replace("-", "_"))


def resolve_fields(arguments: list[dict[str, Any]], domains: dict[str, str]) -> list[Field]:
    """Turn JSON arguments into fields with base types and pika's defaults."""
    fields = []
    for arg in arguments:
        kind = arg.get("type") or domains[arg["domain"]]
        while kind in domains and domains[kind] != kind:
            kind = domains[kind]
        default = arg.get("default-value")
        if kind == "table":
            default = None  # pika uses None, never a shared mutable {}
        fields.append(Field(attr(arg["name"]), kind, default, default is not None))
    return fields


def group_items(fields: list[Field]) -> list[list[Item]]:
    """Split fields into chunks: runs of fixed-size fields (bits packed) or one variable field."""
    chunks: list[list[Item]] = []
    run: list[Item] = []
    for field in fields:
        if field.kind == "bit":
            last = run[-1] if run else None
            if isinstance(last, Bits) and len(last.names) < 8:
                last.names.append(field.name)
            else:
                run.append(Bits([field.name]))
        elif field.kind in FIXED_FORMATS:
            run.append(field)
        else:
            if run:
                chunks.append(run)
                run = []
            chunks.append([field])
    if run:
        chunks.append(run)
    return chunks


def is_fixed(chunk: list[Item]) -> bool:
    """True for a chunk of fixed-size fields."""
    first = chunk[0]
    return isinstance(first, Bits) or first.kind in FIXED_FORMATS


def run_format(chunk: list[Item]) -> str:
    """The struct format of a fixed-size run."""
    return ">" + "".join("B" if isinstance(i, Bits) else FIXED_FORMATS[i.kind] for i in chunk)


def struct_name(fmt: str) -> str:
    """The module-level name of a precompiled struct."""
    return "_S_" + fmt[1:]


class Writer:
    """Accumulates the lines of the generated module."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.structs: dict[str, str] = {}

    def emit(self, indent: int = 0, text: str = "") -> None:
        self.lines.append(("    " * indent + text) if text else "")

    def use_struct(self, fmt: str) -> str:
        name = struct_name(fmt)
        self.structs[name] = fmt
        return name


def bits_expression(names: list[str]) -> str:
    """The octet value of packed bit fields, read from self."""
    terms = [f"({1 << i} if self.{name} else 0)" for i, name in enumerate(names)]
    return " | ".join(terms)


def emit_init(w: Writer, fields: list[Field], ind: int, extra: list[str] | None = None) -> None:
    """Write __init__ with pika's argument order and defaults."""
    if not fields:
        w.emit(ind, "def __init__(self) -> None:")
        w.emit(ind + 1, "pass")
        return
    w.emit(ind, "def __init__(")
    w.emit(ind + 1, "self,")
    for f in fields:
        ann = ANNOTATIONS[f.kind]
        if f.name == "delivery_mode":
            ann = "Any"
        elif not f.has_default:
            ann += " | None"
        w.emit(ind + 1, f"{f.name}: {ann} = {literal(f.default)},")
    w.emit(ind, ") -> None:")
    for line in extra or []:
        w.emit(ind + 1, line)
    for f in fields:
        w.emit(ind + 1, f"self.{f.name} = {f.name}")


def piece_expressions(w: Writer, fields: list[Field]) -> tuple[list[str], list[str]]:
    """The statements to run first, and the expressions whose concatenation is the arguments."""
    prelude: list[str] = []
    pieces = []

    def bits_value(bits: Bits) -> str:
        if len(bits.names) == 1:
            return bits_expression(bits.names)
        var = f"bits{len(prelude)}"
        terms = bits_expression(bits.names).split(" | ")
        prelude.extend([f"{var} = (", f"    {terms[0]}"])
        prelude.extend(f"    | {term}" for term in terms[1:])
        prelude.append(")")
        return var

    for chunk in group_items(fields):
        if is_fixed(chunk):
            fmt = run_format(chunk)
            values = [bits_value(i) if isinstance(i, Bits) else f"self.{i.name}" for i in chunk]
            if fmt == ">B" and isinstance(chunk[0], Bits):
                pieces.append(f"_OCTETS[{values[0]}]")
            else:
                call = f"{w.use_struct(fmt)}.pack({', '.join(values)})"
                if len(call) > 70:
                    call = (
                        f"{w.use_struct(fmt)}.pack(\n"
                        + "".join(f"    {v},\n" for v in values)
                        + ")"
                    )
                pieces.append(call)
        else:
            field = chunk[0]
            assert isinstance(field, Field)
            helper = {"shortstr": "_ss", "longstr": "_ls", "table": "_tb"}[field.kind]
            pieces.append(f"{helper}(self.{field.name})")
    return prelude, pieces


def emit_encode(w: Writer, fields: list[Field], ind: int) -> None:
    """Write encode() for a method."""
    w.emit(ind, "def encode(self) -> bytes:")
    prelude, pieces = piece_expressions(w, fields)
    if not pieces:
        w.emit(ind + 1, 'return b""')
        return
    w.emit(ind + 1, "try:")
    for line in prelude:
        w.emit(ind + 2, line)
    if len(pieces) == 1:
        first, *rest = pieces[0].split("\n")
        w.emit(ind + 2, f"return {first}")
        for line in rest:
            w.emit(ind + 2, line)
    else:
        w.emit(ind + 2, 'return b"".join(')
        w.emit(ind + 3, "(")
        for piece in pieces:
            for line in f"{piece},".split("\n"):
                w.emit(ind + 4, line)
        w.emit(ind + 3, ")")
        w.emit(ind + 2, ")")
    w.emit(ind + 1, "except _ENCODE_ERRORS as exc:")
    w.emit(ind + 2, "raise _encode_error(self, exc) from None")


def emit_read_variable(w: Writer, field: Field, ind: int, name: str) -> None:
    """Write the decoding of one variable-size field into local v_<field>."""
    var = f"v_{field.name}"
    if field.kind == "shortstr":
        w.emit(ind, "stop = offset + 1 + buf[offset]")
        w.emit(ind, "if stop > end:")
        w.emit(ind + 1, f'raise _overrun("{name}", "{field.name}")')
        w.emit(ind, "raw = buf[offset + 1 : stop]")
        w.emit(ind, "try:")
        w.emit(ind + 1, f"{var} = raw.decode()")
        w.emit(ind, "except UnicodeDecodeError:")
        w.emit(ind + 1, f'{var} = raw.decode("utf-8", "surrogateescape")')
        w.emit(ind, "offset = stop")
    elif field.kind == "longstr":
        w.emit(ind, "start = offset + 4")
        w.emit(ind, "stop = start + _S_I.unpack_from(buf, offset)[0]")
        w.emit(ind, "if stop > end:")
        w.emit(ind + 1, f'raise _overrun("{name}", "{field.name}")')
        w.emit(ind, f"{var} = bytes(buf[start:stop])")
        w.emit(ind, "offset = stop")
    elif field.kind == "table":
        w.emit(ind, f"{var}, offset = _read_table(buf, offset, end)")
    else:
        raise ValueError(f"no decoder for AMQP type {field.kind}")


def emit_unpack(w: Writer, qual: str, name: str, fields: list[Field], ind: int) -> None:
    """Write the _unpack staticmethod of a method."""
    w.emit(ind, "@staticmethod")
    w.emit(ind, f"def _unpack(buf: data.Bytes, offset: int, end: int) -> {qual}:")
    if not fields:
        w.emit(ind + 1, "if offset != end:")
        w.emit(ind + 2, f'raise _trailing("{name}", offset, end)')
        w.emit(ind + 1, f"return {qual}()")
        return
    bit_values: dict[str, str] = {}
    w.emit(ind + 1, "try:")
    for index, chunk in enumerate(group_items(fields)):
        if is_fixed(chunk):
            fmt = run_format(chunk)
            targets = []
            for item in chunk:
                if isinstance(item, Bits):
                    var = f"bits{index}"
                    for bit, bit_name in enumerate(item.names):
                        bit_values[bit_name] = f"({var} & {1 << bit}) != 0"
                    targets.append(var)
                else:
                    targets.append(f"v_{item.name}")
            if fmt == ">B" and isinstance(chunk[0], Bits):
                w.emit(ind + 2, f"{targets[0]} = buf[offset]")
                w.emit(ind + 2, "offset += 1")
                continue
            sname = w.use_struct(fmt)
            if len(targets) == 1:
                w.emit(ind + 2, f"{targets[0]} = {sname}.unpack_from(buf, offset)[0]")
            else:
                w.emit(ind + 2, f"{', '.join(targets)} = {sname}.unpack_from(buf, offset)")
            w.emit(ind + 2, f"offset += {struct.calcsize(fmt)}")
        else:
            field = chunk[0]
            assert isinstance(field, Field)
            emit_read_variable(w, field, ind + 2, name)
    w.emit(ind + 1, "except _DECODE_ERRORS as exc:")
    w.emit(ind + 2, f'raise _malformed("{name}", exc) from None')
    w.emit(ind + 1, "if offset != end:")
    w.emit(ind + 2, f'raise _trailing("{name}", offset, end)')
    w.emit(ind + 1, f"obj = _new({qual})")
    for f in fields:
        w.emit(ind + 1, f"obj.{f.name} = {bit_values.get(f.name, 'v_' + f.name)}")
    w.emit(ind + 1, "return obj")


def emit_method(
    w: Writer, cls: dict[str, Any], method: dict[str, Any], domains: dict[str, str]
) -> None:
    """Write one method class nested in its AMQP class."""
    cname, mname = camel(cls["name"]), camel(method["name"])
    qual = f"{cname}.{mname}"
    index = (cls["id"] << 16) | method["id"]
    fields = resolve_fields(method["arguments"], domains)
    names = [f.name for f in fields]
    secrets = SECRETS.get((cls["name"], method["name"]), ())
    sync = bool(method.get("synchronous"))
    w.emit()
    w.emit(1, f"class {mname}(amqp_object.Method):")
    w.emit(
        2, f'"""AMQP {cls["name"]}.{method["name"]} (class {cls["id"]}, method {method["id"]})."""'
    )
    w.emit()
    emit_tuple(w, 2, "__slots__", sorted(names))
    w.emit()
    w.emit(2, f"INDEX = 0x{index:08X}  # {cls['id']}, {method['id']}; {index}")
    w.emit(2, f'NAME = "{qual}"')
    w.emit(2, f"synchronous = {sync}")
    w.emit(2, f"_INDEX_BYTES = {struct.pack('>I', index)!r}")
    emit_tuple(w, 2, "_FIELDS", names)
    emit_tuple(w, 2, "_TYPES", [f.kind for f in fields])
    if secrets:
        emit_tuple(w, 2, "_SECRET_FIELDS", list(secrets))
    w.emit()
    emit_init(w, fields, 2)
    w.emit()
    emit_encode(w, fields, 2)
    w.emit()
    emit_unpack(w, qual, qual, fields, 2)


PROPERTY_HELPERS = {"shortstr": "_ss", "longstr": "_ls", "table": "_tb"}
# Short-string properties that take few distinct values in a stream (a content type, an app id,
# a reply queue): their encodings are remembered. Per-message ids are not.
CACHED_SHORTSTRS = frozenset(
    (
        "content_type",
        "content_encoding",
        "reply_to",
        "expiration",
        "type",
        "user_id",
        "app_id",
        "cluster_id",
    )
)


def emit_properties(w: Writer, cls: dict[str, Any], domains: dict[str, str]) -> None:
    """Write BasicProperties: flags, __init__, encode and _unpack."""
    fields = resolve_fields(cls["properties"], domains)
    fields = [f._replace(default=None, has_default=False) for f in fields]
    name = f"{camel(cls['name'])}Properties"
    names = [f.name for f in fields]
    flags = {f.name: 1 << (15 - i) for i, f in enumerate(fields)}
    w.emit()
    w.emit()
    w.emit(0, f"class {name}(amqp_object.Properties):")
    w.emit(1, f'"""The content-header properties of AMQP class {cls["name"]} ({cls["id"]})."""')
    w.emit()
    w.emit(1, "__slots__ = (")
    for n in sorted(names):
        w.emit(2, f'"{n}",')
    w.emit(1, ")")
    w.emit()
    w.emit(1, f"CLASS = {camel(cls['name'])}")
    w.emit(1, f"INDEX = 0x{cls['id']:04X}  # {cls['id']}")
    w.emit(1, f'NAME = "{name}"')
    w.emit(1, "_FIELDS = (")
    for n in names:
        w.emit(2, f'"{n}",')
    w.emit(1, ")")
    w.emit(1, "_TYPES = (")
    for f in fields:
        w.emit(2, f'"{f.kind}",')
    w.emit(1, ")")
    w.emit()
    for f in fields:
        w.emit(1, f"FLAG_{f.name.upper()} = 1 << {15 - names.index(f.name)}")
    w.emit()
    extra = []
    if "delivery_mode" in names:
        extra = [
            "if delivery_mode is not None and delivery_mode.__class__ is not int:",
            "    # A DeliveryMode member: store its int value, as pika does.",
            '    delivery_mode = getattr(delivery_mode, "value", delivery_mode)',
        ]
    emit_init(w, fields, 1, extra)
    w.emit()
    emit_properties_encode(w, fields, flags)
    emit_properties_decode(w, name, fields, flags)


def emit_properties_encode(w: Writer, fields: list[Field], flags: dict[str, int]) -> None:
    """Write BasicProperties.encode: one test per property, low-cardinality strings cached."""
    w.emit(1, "def encode(self) -> bytes:")
    w.emit(2, "try:")
    w.emit(3, "flags = 0")
    w.emit(3, 'parts = [b""]')
    w.emit(3, "append = parts.append")
    w.emit(3, "value: Any")
    for f in fields:
        w.emit(3, f"if self.{f.name} is not None:")
        w.emit(4, f"flags |= 0x{flags[f.name]:04X}")
        if f.name == "delivery_mode":
            w.emit(4, f"value = self.{f.name}")
            w.emit(4, "if value.__class__ is not int:")
            w.emit(5, 'value = getattr(value, "value", value)')
            w.emit(4, f"append({w.use_struct('>B')}.pack(value))")
        elif f.kind == "shortstr" and f.name in CACHED_SHORTSTRS:
            w.emit(4, f"append(_SS_CACHE.get(self.{f.name}) or _ss_cached(self.{f.name}))")
        elif f.kind in PROPERTY_HELPERS:
            w.emit(4, f"append({PROPERTY_HELPERS[f.kind]}(self.{f.name}))")
        else:
            fmt = ">" + FIXED_FORMATS[f.kind]
            w.emit(4, f"append({w.use_struct(fmt)}.pack(self.{f.name}))")
    w.emit(3, "parts[0] = _S_H.pack(flags)")
    w.emit(3, 'return b"".join(parts)')
    w.emit(2, "except _ENCODE_ERRORS as exc:")
    w.emit(3, "raise _encode_error(self, exc) from None")


def property_reader_lines(w: Writer, name: str, field: Field) -> list[str]:
    """The statements that read one property into local v_<field> (no flag test)."""
    sub = Writer()
    sub.structs = w.structs
    if field.kind in PROPERTY_HELPERS:
        emit_read_variable(sub, field, 0, name)
    elif field.kind == "octet":
        sub.emit(0, f"v_{field.name} = buf[offset]")
        sub.emit(0, "offset += 1")
    else:
        fmt = ">" + FIXED_FORMATS[field.kind]
        sub.emit(0, f"v_{field.name} = {sub.use_struct(fmt)}.unpack_from(buf, offset)[0]")
        sub.emit(0, f"offset += {struct.calcsize(fmt)}")
    return sub.lines


def emit_properties_decode(
    w: Writer, name: str, fields: list[Field], flags: dict[str, int]
) -> None:
    """Write the decoders: a dispatcher on the flags word, the generic one, the field readers.

    The dispatcher hands each flags word to a decoder specialised for it (only the present
    properties, no flag tests), assembled at run time from the readers written here and
    remembered in a bounded dict; words with unknown or continuation flags go to the generic
    decoder, which rejects or skips them.
    """
    spare = (1 << (16 - len(fields))) - 1
    readers = f"_{snake(name).upper()}_READERS"
    decoders = f"_{snake(name).upper()}_DECODERS"
    w.emit()
    w.emit(1, "@staticmethod")
    w.emit(1, f"def _unpack(buf: data.Bytes, offset: int, end: int) -> {name}:")
    w.emit(2, "try:")
    w.emit(3, "flags = _S_H.unpack_from(buf, offset)[0]")
    w.emit(2, "except _DECODE_ERRORS as exc:")
    w.emit(3, f'raise _malformed("{name}", exc) from None')
    w.emit(2, f"decoder = {decoders}.get(flags)")
    w.emit(2, "if decoder is None:")
    w.emit(3, f"decoder = {name}._decoder(flags)")
    w.emit(2, "return decoder(buf, offset + 2, end)")
    w.emit()
    w.emit(1, "@staticmethod")
    w.emit(1, f"def _decoder(flags: int) -> Callable[[data.Bytes, int, int], {name}]:")
    w.emit(2, '"""The decoder of the values that follow this flags word (built on first sight)."""')
    w.emit(2, f"if flags & 0x{spare:04X}:")
    w.emit(3, f"return _after_flags({name}._unpack_generic)")
    w.emit(2, f"return _property_decoder({name}, {readers}, {decoders}, flags)")
    w.emit()
    w.emit(1, "@staticmethod")
    w.emit(1, f"def _unpack_generic(buf: data.Bytes, offset: int, end: int) -> {name}:")
    w.emit(
        2, '"""Decode any flags word: continuation words are skipped, unknown flags rejected."""'
    )
    w.emit(2, "try:")
    w.emit(3, "flags = _S_H.unpack_from(buf, offset)[0]")
    w.emit(3, "offset += 2")
    w.emit(3, f"if flags & 0x{spare:04X}:")
    w.emit(4, f'offset = _extra_flag_words(buf, offset, flags, 0x{spare & 0xFFFE:04X}, "{name}")')
    for f in fields:
        w.emit(3, f"if flags & 0x{flags[f.name]:04X}:")
        for line in property_reader_lines(w, name, f):
            w.emit(4, line)
        w.emit(3, "else:")
        w.emit(4, f"v_{f.name} = None")
    w.emit(2, "except _DECODE_ERRORS as exc:")
    w.emit(3, f'raise _malformed("{name}", exc) from None')
    w.emit(2, "if offset != end:")
    w.emit(3, f'raise _trailing("{name}", offset, end)')
    w.emit(2, f"obj = _new({name})")
    for f in fields:
        w.emit(2, f"obj.{f.name} = v_{f.name}")
    w.emit(2, "return obj")
    w.emit()
    w.emit()
    w.emit(0, f"# (flag, property, the statements that read it) for {name}'s specialised decoders")
    w.emit(0, f"{readers}: tuple[tuple[int, str, tuple[str, ...]], ...] = (")
    for f in fields:
        w.emit(1, "(")
        w.emit(2, f"0x{flags[f.name]:04X},")
        w.emit(2, f"{literal(f.name)},")
        w.emit(2, "(")
        for line in property_reader_lines(w, name, f):
            w.emit(3, f"{literal(line)},")
        w.emit(2, "),")
        w.emit(1, "),")
    w.emit(0, ")")
    w.emit(0, f"{decoders}: dict[int, Callable[[data.Bytes, int, int], {name}]] = {{}}")


HEADER = '''\
"""The AMQP 0-9-1 classes, methods, content properties and constants, named as in pika.

Generated by tools/gen_spec.py from tools/amqp-rabbitmq-0.9.1.json (RabbitMQ's protocol
definition, Copyright (C) 2008-2020 VMware, Inc. or its affiliates, under the license
carried in that file). Do not edit: change the generator and run
``python tools/gen_spec.py``.
"""

# fmt: off
from __future__ import annotations

import struct
from typing import Any, Callable, TypeVar, cast

from pika_core import amqp_object, data
from pika_core.exceptions import FrameError

'''

HELPERS = '''
_ss: Callable[[Any], bytes] = data.shortstr_bytes
_ls: Callable[[Any], bytes] = data.longstr_bytes
_tb: Callable[[Any], bytes] = data.table_bytes
_read_table = data.read_table
_new = object.__new__
_OCTETS = tuple(bytes((i,)) for i in range(256))
_P = TypeVar("_P", bound=amqp_object.Properties)
_ENCODE_ERRORS = (TypeError, ValueError, AttributeError, OverflowError, struct.error)
_DECODE_ERRORS = (struct.error, IndexError, UnicodeDecodeError, OverflowError)
_INT_RANGES = {
    "octet": 0xFF,
    "short": 0xFFFF,
    "long": 0xFFFFFFFF,
    "longlong": 0xFFFFFFFFFFFFFFFF,
    "timestamp": 0xFFFFFFFFFFFFFFFF,
}


def _malformed(name: str, exc: BaseException) -> FrameError:
    """The error for arguments that could not be decoded at all."""
    return FrameError(
        SYNTAX_ERROR, f"{name}: malformed or truncated arguments from the peer ({exc})"
    )


def _overrun(name: str, field: str) -> FrameError:
    """The error for a string or table longer than what is left of the frame."""
    return FrameError(SYNTAX_ERROR, f"{name}.{field} overruns the end of its frame")


def _trailing(name: str, offset: int, end: int) -> FrameError:
    """The error for arguments that do not end exactly where the frame does."""
    if offset > end:
        return FrameError(SYNTAX_ERROR, f"{name}: arguments overrun the frame by {offset - end}")
    return FrameError(SYNTAX_ERROR, f"{name}: {end - offset} stray bytes after the arguments")


def _extra_flag_words(
    buf: data.Bytes, offset: int, flags: int, unused: int, name: str
) -> int:
    """Skip continuation flag words; a property this client does not know is an error."""
    if flags & unused:
        raise FrameError(SYNTAX_ERROR, f"{name}: the content header sets unknown property flags")
    while flags & 0x0001:
        flags = _S_H.unpack_from(buf, offset)[0]
        offset += 2
        if flags & 0xFFFE:
            raise FrameError(
                SYNTAX_ERROR, f"{name}: the content header sets unknown property flags"
            )
    return offset


_SS_CACHE: dict[Any, bytes] = {}
_SS_CACHE_MAX = 256
#: How many flags words get a decoder of their own; further ones use the generic decoder.
_DECODERS_MAX = 128


def _ss_cached(value: Any) -> bytes:
    """Encode a short string, remembering the encodings of str values (bounded)."""
    encoded = _ss(value)
    if value.__class__ is str:
        if len(_SS_CACHE) >= _SS_CACHE_MAX:
            _SS_CACHE.clear()
        _SS_CACHE[value] = encoded
    return encoded


def _after_flags(
    generic: Callable[[data.Bytes, int, int], _P],
) -> Callable[[data.Bytes, int, int], _P]:
    """Adapt a decoder that reads the flags word itself to start after it."""

    def decode(buf: data.Bytes, offset: int, end: int) -> _P:
        return generic(buf, offset - 2, end)

    return decode


def _property_decoder(
    cls: type[_P],
    readers: tuple[tuple[int, str, tuple[str, ...]], ...],
    decoders: dict[int, Callable[[data.Bytes, int, int], _P]],
    flags: int,
) -> Callable[[data.Bytes, int, int], _P]:
    """Build and remember the decoder of exactly the properties that ``flags`` announces.

    It runs the generated readers of the present properties in order, with no flag tests, and
    fills the absent ones with None. Its source comes only from the generated readers.
    """
    if len(decoders) >= _DECODERS_MAX:
        return _after_flags(cls._unpack_generic)
    lines = ["def decode(buf, offset, end):", "    try:"]
    for flag, _name, reader in readers:
        if flags & flag:
            lines.extend("        " + line for line in reader)
    lines += [
        "        pass",
        "    except _DECODE_ERRORS as exc:",
        f"        raise _malformed({cls.NAME!r}, exc) from None",
        "    if offset != end:",
        f"        raise _trailing({cls.NAME!r}, offset, end)",
        "    obj = _new(_cls)",
    ]
    for flag, name, _reader in readers:
        lines.append(f"    obj.{name} = v_{name}" if flags & flag else f"    obj.{name} = None")
    lines.append("    return obj")
    namespace = dict(globals())
    namespace["_cls"] = cls
    code = compile("\\n".join(lines), f"<{cls.NAME} decoder, flags 0x{flags:04X}>", "exec")
    exec(code, namespace)  # noqa: S102 - source built from the generated readers only
    decoder = cast(Callable[[data.Bytes, int, int], _P], namespace["decode"])
    decoders[flags] = decoder
    return decoder


def _encode_error(obj: amqp_object.AMQPObject, exc: BaseException) -> Exception:
    """Find the field that made encode() fail and say how to fix it."""
    for name, kind in zip(obj._FIELDS, obj._TYPES):
        value = getattr(obj, name)
        where = f"{obj.NAME}.{name}"
        if value is None and isinstance(obj, amqp_object.Properties):
            continue
        if kind in _INT_RANGES:
            if name == "delivery_mode" and value.__class__ is not int:
                value = getattr(value, "value", value)
            if not isinstance(value, int):
                return TypeError(f"{where} must be an int, not {type(value).__name__}")
            if not 0 <= value <= _INT_RANGES[kind]:
                return ValueError(f"{where}={value} is out of range 0..{_INT_RANGES[kind]}")
        elif kind in ("shortstr", "longstr"):
            try:
                (_ss if kind == "shortstr" else _ls)(value)
            except (TypeError, ValueError) as err:
                return type(err)(f"{where}: {err}")
        elif kind == "table":
            try:
                _tb(value)
            except (TypeError, ValueError) as err:
                return type(err)(f"{where}: {err}")
    return TypeError(f"{obj.NAME} could not be encoded: {exc}")
'''


def generate(spec: dict[str, Any]) -> str:
    """Return the text of pika_core/spec.py."""
    domains = {name: kind for name, kind in spec["domains"]}
    w = Writer()
    constants = {c["name"].replace("-", "_"): c["value"] for c in spec["constants"]}
    constants.update(EXTRA_CONSTANTS)
    body = Writer()
    body.structs = w.structs
    for cls in spec["classes"]:
        body.emit()
        body.emit()
        body.emit(0, f"class {camel(cls['name'])}(amqp_object.Class):")
        body.emit(1, f'"""AMQP class {cls["name"]} ({cls["id"]})."""')
        body.emit()
        body.emit(1, "__slots__ = ()")
        body.emit()
        body.emit(1, f"INDEX = 0x{cls['id']:04X}  # {cls['id']}")
        body.emit(1, f'NAME = "{camel(cls["name"])}"')
        for method in cls["methods"]:
            emit_method(body, cls, method, domains)
    for cls in spec["classes"]:
        if cls.get("properties"):
            emit_properties(body, cls, domains)
    body.structs.setdefault("_S_H", ">H")
    body.structs.setdefault("_S_I", ">I")

    out = [HEADER]
    version = (spec["major-version"], spec["minor-version"], spec["revision"])
    out.append(f"PROTOCOL_VERSION = {version!r}\n")
    out.append(f"PORT = {spec['port']}\n\n")
    for name in sorted(constants):
        out.append(f"{name} = {constants[name]}\n")
    out.append("\n")
    for sname in sorted(body.structs):
        out.append(f'{sname} = struct.Struct("{body.structs[sname]}")\n')
    out.append(HELPERS)
    out.append("\n".join(body.lines) + "\n")

    method_rows = []
    content = []
    for cls in spec["classes"]:
        for method in cls["methods"]:
            index = (cls["id"] << 16) | method["id"]
            qual = f"{camel(cls['name'])}.{camel(method['name'])}"
            method_rows.append(f"    0x{index:08X}: {qual},\n")
            if method.get("content"):
                content.append(f"    {qual}.INDEX,\n")
    out.append("\n\nmethods: dict[int, type[amqp_object.Method]] = {\n")
    out.extend(method_rows)
    out.append("}\n\nprops: dict[int, type[amqp_object.Properties]] = {\n")
    for cls in spec["classes"]:
        if cls.get("properties"):
            out.append(f"    0x{cls['id']:04X}: {camel(cls['name'])}Properties,\n")
    out.append("}\n\n_CONTENT_METHODS = frozenset(\n    (\n")
    out.extend("    " + row for row in content)
    out.append("    )\n)\n\n\n")
    out.append("def has_content(index: int) -> bool:\n")
    out.append('    """True for methods followed by a content header and body frames."""\n')
    out.append("    return index in _CONTENT_METHODS\n")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    """Write pika_core/spec.py, or with --check report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if spec.py is stale")
    args = parser.parse_args(argv)
    text = generate(json.loads(SPEC_JSON.read_text(encoding="utf-8")))
    if args.check:
        current = SPEC_PY.read_text(encoding="utf-8") if SPEC_PY.exists() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            "pika_core/spec.py (committed)",
            "pika_core/spec.py (generated)",
        )
        sys.stdout.writelines(list(diff)[:200])
        print("pika_core/spec.py is stale: run `python tools/gen_spec.py`", file=sys.stderr)
        return 1
    SPEC_PY.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
