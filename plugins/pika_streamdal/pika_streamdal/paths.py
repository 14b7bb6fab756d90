"""Dotted JSON paths, the subset of gjson that Streamdal pipelines used: ``a.b``, ``a.0.b``, ``a.#.b``.

``\\.`` escapes a dot inside a key; ``""`` is the whole payload. A concrete path (one value's
address) is a tuple of dict keys (str) and list indexes (int).
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Tuple, Union

__all__ = ["Concrete", "delete_at", "find", "format_path", "get_at", "parse", "set_at", "walk"]

Segment = str
Concrete = Tuple[Union[str, int], ...]

#: The path segment that stands for every element of a list (gjson's ``#``).
ALL = "#"


@functools.lru_cache(maxsize=1024)
def parse(path: str) -> tuple[Segment, ...]:
    """Split a dotted path into segments, honouring ``\\.`` escapes."""
    if path == "":
        return ()
    segments: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(path):
        char = path[index]
        if char == "\\" and index + 1 < len(path):
            current.append(path[index + 1])
            index += 2
            continue
        if char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    return tuple(segments)


def format_path(concrete: Concrete) -> str:
    """A concrete path written back as a dotted path (dots in keys escaped)."""
    return ".".join(
        str(part) if isinstance(part, int) else part.replace("\\", "\\\\").replace(".", "\\.")
        for part in concrete
    )


def find(obj: Any, path: str) -> list[tuple[Concrete, Any]]:
    """Every (concrete path, value) the path selects; ``#`` fans out over a list."""
    found: list[tuple[Concrete, Any]] = []
    _find(obj, parse(path), 0, (), found)
    return found


def _find(
    obj: Any, segments: tuple[str, ...], depth: int, at: Concrete, out: list[tuple[Concrete, Any]]
) -> None:
    if depth == len(segments):
        out.append((at, obj))
        return
    segment = segments[depth]
    if isinstance(obj, dict):
        if segment in obj:
            _find(obj[segment], segments, depth + 1, at + (segment,), out)
        return
    if isinstance(obj, list):
        if segment == ALL:
            for index, item in enumerate(obj):
                _find(item, segments, depth + 1, at + (index,), out)
        elif segment.isdigit():
            index = int(segment)
            if index < len(obj):
                _find(obj[index], segments, depth + 1, at + (index,), out)


def get_at(obj: Any, concrete: Concrete) -> Any:
    """The value at a concrete path (KeyError/IndexError when absent)."""
    for part in concrete:
        obj = obj[part]
    return obj


def set_at(root: Any, concrete: Concrete, value: Any) -> Any:
    """Set the value at a concrete path; return the root (a new one when the path is empty)."""
    if not concrete:
        return value
    parent = get_at(root, concrete[:-1])
    parent[concrete[-1]] = value
    return root


def delete_at(root: Any, concrete: Concrete) -> Any:
    """Remove the value at a concrete path; return the root (None when the path is empty)."""
    if not concrete:
        return None
    parent = get_at(root, concrete[:-1])
    del parent[concrete[-1]]
    return root


def walk(obj: Any, at: Concrete = ()) -> Iterator[tuple[Concrete, Any, Any]]:
    """Every leaf below ``obj``: (concrete path, nearest dict key or None, value)."""
    first_key = at[-1] if at and isinstance(at[-1], str) else None
    stack: list[tuple[Concrete, Any, Any]] = [(at, first_key, obj)]
    while stack:
        where, key, value = stack.pop()
        if isinstance(value, dict):
            for child_key in reversed(list(value)):
                stack.append((where + (child_key,), child_key, value[child_key]))
        elif isinstance(value, list):
            for index in range(len(value) - 1, -1, -1):
                stack.append((where + (index,), key, value[index]))
        else:
            yield where, key, value
