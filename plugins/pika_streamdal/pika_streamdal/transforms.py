"""Transforms of one value or of a whole payload: replace, delete, mask, obfuscate, truncate, extract."""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

from pika_streamdal import paths

__all__ = [
    "TRANSFORMS",
    "extract",
    "mask_text_spans",
    "mask_value",
    "obfuscate_value",
    "truncate_value",
]

TRANSFORMS = ("replace", "delete", "mask", "obfuscate", "truncate", "extract")

#: Streamdal's constants for obfuscated numbers.
OBFUSCATED_INT = 123123123
OBFUSCATED_FLOAT = 123123.123


def mask_value(value: Any, char: str = "*", keep_ratio: float = 0.2) -> Any:
    """Keep the first ``keep_ratio`` of a string and mask the rest (``foobar`` -> ``f*****``).

    Numbers keep their JSON type: an int or a float keeps the leading ``keep_ratio`` of its
    digits and the rest become 0 (``329328102938`` -> ``320000000000``, ``16.99`` -> ``0.0``).
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        keep = int(len(value) * keep_ratio)
        return value[:keep] + char * (len(value) - keep)
    if isinstance(value, int):
        text = str(abs(value))
        keep = int(len(text) * keep_ratio)
        masked = int(text[:keep] + "0" * (len(text) - keep))
        return -masked if value < 0 else masked
    if isinstance(value, float):
        return _mask_float(value, keep_ratio)
    if isinstance(value, list):
        return [mask_value(item, char, keep_ratio) for item in value]
    if isinstance(value, dict):
        return {key: mask_value(item, char, keep_ratio) for key, item in value.items()}
    return value


def _mask_float(value: float, keep_ratio: float) -> float:
    """Zero all but the leading digits of a float's shortest form, exponent untouched."""
    if not math.isfinite(value):
        return value
    mantissa, marker, exponent = repr(abs(value)).partition("e")
    keep = int(sum(char.isdigit() for char in mantissa) * keep_ratio)
    chars = []
    for char in mantissa:
        if char.isdigit():
            if keep <= 0:
                char = "0"
            keep -= 1
        chars.append(char)
    masked = float("".join(chars) + marker + exponent)
    return -masked if value < 0 else masked


def obfuscate_value(
    value: Any, int_value: int = OBFUSCATED_INT, float_value: float = OBFUSCATED_FLOAT
) -> Any:
    """Replace a value by a stable digest (``sha256:<hex>``); numbers by a constant."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    if isinstance(value, int):
        return int_value
    if isinstance(value, float):
        return float_value
    if isinstance(value, list):
        return [obfuscate_value(item, int_value, float_value) for item in value]
    if isinstance(value, dict):
        return {key: obfuscate_value(item, int_value, float_value) for key, item in value.items()}
    return value


def truncate_value(value: Any, length: int | None = None, percent: float | None = None) -> Any:
    """Shorten a string to ``length`` characters or to ``percent`` of its length."""
    if not isinstance(value, str):
        return value
    if length is None:
        if percent is None:
            raise ValueError("truncate needs length or percent")
        length = math.floor(len(value) * float(percent) / 100.0)
    return value[: max(int(length), 0)]


def extract(root: Any, wanted: Sequence[str], flatten: bool = False) -> dict[str, Any]:
    """A new payload holding only the given paths (flattened to their last key on request)."""
    result: dict[str, Any] = {}
    for path in wanted:
        for concrete, value in paths.find(root, path):
            if flatten or not concrete:
                key = str(concrete[-1]) if concrete else path
                result[key] = value
                continue
            node: Any = result
            for part in concrete[:-1]:
                node = node.setdefault(str(part), {})
            node[str(concrete[-1])] = value
    return result


def mask_text_spans(
    text: str, spans: Sequence[tuple[int, int]], char: str = "*", replacement: str | None = None
) -> str:
    """Mask (or replace) the given character spans of a plaintext payload."""
    pieces: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            continue
        pieces.append(text[last:start])
        pieces.append(replacement if replacement is not None else char * (end - start))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
