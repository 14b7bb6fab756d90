"""Detectors: the core type checks and the PII finders that detect steps run over JSON paths.

Each value detector is a predicate on one leaf value; the detect step walks the leaves the path
selects (the whole payload for ``path=""``) and reports a :class:`Match` per hit. PII detectors
search inside strings (an email inside a sentence counts); type detectors test the whole value.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from datetime import datetime
from typing import (
    Any,
    Callable,
    Iterable,
    NamedTuple,
    Optional,
    Pattern,
    Sequence,
)

from pika_streamdal import paths

__all__ = [
    "DETECTORS",
    "PII_KEYWORDS",
    "PII_TYPES",
    "Match",
    "StepTimeout",
    "detect_json",
    "detect_text",
    "iban_ok",
    "luhn_ok",
]


class StepTimeout(Exception):
    """A step ran past its time budget (checked cooperatively while walking the payload)."""


class Match(NamedTuple):
    """One detector hit: where (a concrete JSON path, or a text span) and what."""

    path: paths.Concrete
    type: str
    value_len: int
    span: tuple[int, int] | None = None

    @property
    def dotted(self) -> str:
        """The path as a dotted string."""
        return paths.format_path(self.path)


# -------------------------------------------------------------------------------------------------
# Checksums
# -------------------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum that every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces allowed)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = "".join(str(int(char, 36)) for char in rearranged)
    except ValueError:
        return False
    return int(number) % 97 == 1


# -------------------------------------------------------------------------------------------------
# PII finders: a regex and an optional validator per type
# -------------------------------------------------------------------------------------------------

_Validator = Optional[Callable[[str], bool]]


def _card_ok(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_PII: dict[str, tuple[Pattern[str], _Validator]] = {
    "email": (
        re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        None,
    ),
    # the digits of a decimal number ("16.990000000000002") are never a card number
    "credit_card": (
        re.compile(r"(?<![\d-])(?<!\d\.)\d(?:[ -]?\d){12,18}(?![\d-]|\.\d)"),
        _card_ok,
    ),
    "ssn": (re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)"), None),
    "phone": (
        re.compile(
            r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)"
            r"|(?<![\w(])(?<!\d\.)(?:\+?1[-. ]?)?\(?[2-9]\d{2}\)?[-. ]?[2-9]\d{2}[-. ]\d{4}"
            r"(?!\d|\.\d)"
        ),
        None,
    ),
    "iban": (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), iban_ok),
    "swift_bic": (re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$"), None),
    "jwt": (re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"), None),
    "bearer_token": (re.compile(r"\b[Bb]earer\s+[A-Za-z0-9\-._~+/]{8,}=*"), None),
    "aws_key_id": (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), None),
    "github_pat": (
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{22,}"),
        None,
    ),
    "slack_token": (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), None),
    "stripe_key": (re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"), None),
    "google_api_key": (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), None),
    "rsa_private_key": (
        re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
        None,
    ),
    "ipv4": (re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])"), _ip_ok),
    "ipv6": (
        re.compile(r"(?<![:\w])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![:\w])"),
        _ip_ok,
    ),
}

#: The types ``pii_any`` runs (every PII finder above).
PII_TYPES: tuple[str, ...] = tuple(_PII)

#: Field-name keywords with a score (1.0: certainly personal or secret).
PII_KEYWORDS: dict[str, float] = {
    "password": 1.0,
    "passwd": 1.0,
    "secret": 0.9,
    "token": 0.8,
    "apikey": 0.9,
    "ssn": 1.0,
    "socialsecurity": 1.0,
    "socialsecuritynumber": 1.0,
    "creditcard": 1.0,
    "cardnumber": 1.0,
    "cvv": 1.0,
    "iban": 1.0,
    "accountnumber": 0.9,
    "passport": 1.0,
    "driverslicense": 1.0,
    "taxid": 1.0,
    "dob": 0.9,
    "dateofbirth": 0.9,
    "birthdate": 0.9,
    "address": 0.7,
    "street": 0.6,
    "zip": 0.5,
    "postcode": 0.5,
    "email": 0.8,
    "phone": 0.8,
    "mobile": 0.7,
    "firstname": 0.6,
    "lastname": 0.6,
    "fullname": 0.7,
    "ip": 0.5,
}

_KEY_NORMALIZE = re.compile(r"[^a-z0-9]")


_score_cache: dict[tuple[str, bool], float] = {}


def _keyword_score(key: str, accuracy: bool) -> float:
    cached = _score_cache.get((key, accuracy))
    if cached is None:
        if len(_score_cache) > 4096:
            _score_cache.clear()
        cached = _score_cache[(key, accuracy)] = _compute_keyword_score(key, accuracy)
    return cached


def _compute_keyword_score(key: str, accuracy: bool) -> float:
    normal = _KEY_NORMALIZE.sub("", key.lower())
    if not accuracy:
        return PII_KEYWORDS.get(normal, 0.0)
    best = 0.0
    for keyword, score in PII_KEYWORDS.items():
        if score > best and keyword in normal and (len(keyword) > 2 or normal == keyword):
            best = score
    return best


_HAS_DIGIT = re.compile(r"\d")

#: Cheap tests that must pass before a PII regex is worth running (most values fail them).
_HINTS: dict[str, Callable[[str], bool]] = {
    "email": lambda t: "@" in t,
    "credit_card": lambda t: _HAS_DIGIT.search(t) is not None and len(t) >= 13,
    "ssn": lambda t: "-" in t,
    "phone": lambda t: _HAS_DIGIT.search(t) is not None and len(t) >= 8,
    "iban": lambda t: len(t) >= 15 and _HAS_DIGIT.search(t) is not None,
    "swift_bic": lambda t: 8 <= len(t) <= 11 and t.isupper(),
    "jwt": lambda t: "eyJ" in t,
    "bearer_token": lambda t: "earer" in t,
    "aws_key_id": lambda t: "A" in t and len(t) >= 20,
    "github_pat": lambda t: "gh" in t or "github_pat_" in t,
    "slack_token": lambda t: "xox" in t,
    "stripe_key": lambda t: "_live_" in t or "_test_" in t,
    "google_api_key": lambda t: "AIza" in t,
    "rsa_private_key": lambda t: "PRIVATE KEY" in t,
    "ipv4": lambda t: "." in t and _HAS_DIGIT.search(t) is not None,
    "ipv6": lambda t: t.count(":") >= 2,
}


def _pii_candidates(t: str) -> list[str]:
    """The PII kinds whose regex can match ``t`` at all (cheap tests; most values pass none)."""
    kinds: list[str] = []
    n = len(t)
    if "@" in t:
        kinds.append("email")
    if _HAS_DIGIT.search(t) is not None:
        if n >= 13:
            kinds.append("credit_card")
        if n >= 11 and "-" in t:
            kinds.append("ssn")
        if n >= 8:
            kinds.append("phone")
        if n >= 15:
            kinds.append("iban")
        if n >= 7 and "." in t:
            kinds.append("ipv4")
    if 8 <= n <= 11 and t.isupper():
        kinds.append("swift_bic")
    if "eyJ" in t:
        kinds.append("jwt")
    if "earer" in t:
        kinds.append("bearer_token")
    if n >= 20 and ("AKIA" in t or "ASIA" in t or "ABIA" in t or "ACCA" in t):
        kinds.append("aws_key_id")
    if "gh" in t:
        kinds.append("github_pat")
    if "xox" in t:
        kinds.append("slack_token")
    if "_live_" in t or "_test_" in t:
        kinds.append("stripe_key")
    if "AIza" in t:
        kinds.append("google_api_key")
    if "PRIVATE KEY" in t:
        kinds.append("rsa_private_key")
    if t.count(":") >= 2:
        kinds.append("ipv6")
    return kinds


def _pii_search(kind: str, text: str) -> list[tuple[int, int]]:
    hint = _HINTS.get(kind)
    if hint is not None and not hint(text):
        return []
    pattern, validator = _PII[kind]
    spans: list[tuple[int, int]] = []
    for found in pattern.finditer(text):
        if validator is None or validator(found.group(0)):
            spans.append(found.span())
    return spans


# -------------------------------------------------------------------------------------------------
# Core type detectors: predicates on one value, with the step's args
# -------------------------------------------------------------------------------------------------

_Predicate = Callable[[Any, Sequence[Any]], bool]

_MAC = re.compile(r"^(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#]+[^\s]*$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _numeric(test: Callable[[float, Sequence[float]], bool]) -> _Predicate:
    def predicate(value: Any, args: Sequence[Any]) -> bool:
        number = _as_number(value)
        if number is None:
            return False
        return test(number, [float(arg) for arg in args])

    return predicate


def _string(test: Callable[[str, Sequence[Any]], bool]) -> _Predicate:
    def predicate(value: Any, args: Sequence[Any]) -> bool:
        return isinstance(value, str) and test(value, args)

    return predicate


def _ip_version(version: int) -> _Predicate:
    def predicate(value: Any, args: Sequence[Any]) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False

    return predicate


def _rfc3339(value: str, args: Sequence[Any]) -> bool:
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


_TYPE_NAMES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _is_type(value: Any, args: Sequence[Any]) -> bool:
    if not args:
        raise ValueError("is_type needs args=[type], one of " + ", ".join(_TYPE_NAMES))
    check = _TYPE_NAMES.get(str(args[0]).lower())
    if check is None:
        raise ValueError(f"is_type: unknown type {args[0]!r}; use one of {', '.join(_TYPE_NAMES)}")
    return check(value)


def _regex(value: str, args: Sequence[Any]) -> bool:
    return _compiled(str(args[0])).search(value) is not None


_regex_cache: dict[str, Pattern[str]] = {}


def _compiled(pattern: str) -> Pattern[str]:
    compiled = _regex_cache.get(pattern)
    if compiled is None:
        compiled = _regex_cache[pattern] = re.compile(pattern)
    return compiled


_UNIX_MAX = 253402300799  # 9999-12-31T23:59:59Z


#: Value detectors whose hit is the whole value (a leaf), by Streamdal's names.
VALUE_DETECTORS: dict[str, _Predicate] = {
    "is_type": _is_type,
    "string_contains_any": _string(lambda v, a: any(str(x) in v for x in a)),
    "string_contains_all": _string(lambda v, a: all(str(x) in v for x in a)),
    "string_equal": _string(lambda v, a: bool(a) and v == str(a[0])),
    "regex": _string(_regex),
    "ipv4_address": _ip_version(4),
    "ipv6_address": _ip_version(6),
    "mac": _string(lambda v, a: bool(_MAC.match(v))),
    "mac_address": _string(lambda v, a: bool(_MAC.match(v))),
    "uuid": _string(lambda v, a: bool(_UUID.match(v))),
    "url": _string(lambda v, a: bool(_URL.match(v))),
    "hostname": _string(lambda v, a: bool(_HOSTNAME.match(v)) and not v.replace(".", "").isdigit()),
    "semver": _string(lambda v, a: bool(_SEMVER.match(v))),
    "timestamp_rfc3339": _string(_rfc3339),
    "timestamp_unix": _numeric(lambda n, a: 0 <= n <= _UNIX_MAX),
    "timestamp_unix_nano": _numeric(lambda n, a: 1e15 <= n <= _UNIX_MAX * 1e9),
    "boolean_true": lambda v, a: v is True,
    "boolean_false": lambda v, a: v is False,
    "string_length_min": _string(lambda v, a: len(v) >= int(a[0])),
    "string_length_max": _string(lambda v, a: len(v) <= int(a[0])),
    "string_length_range": _string(lambda v, a: int(a[0]) <= len(v) <= int(a[1])),
    "numeric_equal_to": _numeric(lambda n, a: n == a[0]),
    "numeric_eq": _numeric(lambda n, a: n == a[0]),
    "numeric_gt": _numeric(lambda n, a: n > a[0]),
    "numeric_greater_than": _numeric(lambda n, a: n > a[0]),
    "numeric_ge": _numeric(lambda n, a: n >= a[0]),
    "numeric_greater_equal": _numeric(lambda n, a: n >= a[0]),
    "numeric_lt": _numeric(lambda n, a: n < a[0]),
    "numeric_less_than": _numeric(lambda n, a: n < a[0]),
    "numeric_le": _numeric(lambda n, a: n <= a[0]),
    "numeric_less_equal": _numeric(lambda n, a: n <= a[0]),
    "numeric_range": _numeric(lambda n, a: a[0] <= n <= a[1]),
    "numeric_min": _numeric(lambda n, a: n >= a[0]),
    "numeric_max": _numeric(lambda n, a: n <= a[0]),
}

#: Every detector name a detect step accepts.
DETECTORS: tuple[str, ...] = tuple(
    sorted(
        set(VALUE_DETECTORS)
        | set(_PII)
        | {"is_empty", "has_field", "pii_keyword", "pii_any", "custom", "is_json"}
    )
)


# -------------------------------------------------------------------------------------------------
# Running a detector over a payload
# -------------------------------------------------------------------------------------------------

_CHECK_EVERY = 256


def detect_json(
    root: Any,
    kind: str,
    path: str = "",
    args: Sequence[Any] = (),
    *,
    mode: str = "accuracy",
    func: Callable[[Any, str], bool] | None = None,
    deadline: float = math.inf,
) -> list[Match]:
    """Every match of detector ``kind`` below ``path`` of a parsed JSON payload."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector {kind!r}; the detectors are: {', '.join(DETECTORS)}")
    selected = paths.find(root, path)
    if kind == "has_field":
        return [Match(at, kind, _length(value)) for at, value in selected]
    if kind == "is_empty":
        if not selected and path:
            return [Match(paths.parse(path), kind, 0)]
        return [Match(at, kind, 0) for at, value in selected if value in (None, "", [], {})]
    if kind == "is_json":
        return [Match((), kind, 0)]
    matches: list[Match] = []
    if kind == "pii_keyword":
        accuracy = mode != "performance"
        floor = float(args[0]) if args else 0.5
        for at, value in selected:
            _keyword_matches(value, at, accuracy, floor, deadline, matches)
        return matches
    kinds = PII_TYPES if kind == "pii_any" else (kind,)
    keywords = kind == "pii_any"  # pii_any also flags PII field names, in the same walk
    accuracy = mode != "performance"
    for at, value in selected:
        for count, (where, key, leaf) in enumerate(paths.walk(value, at)):
            if count % _CHECK_EVERY == _CHECK_EVERY - 1 and time.perf_counter() > deadline:
                raise StepTimeout(f"detector {kind} ran past its time budget")
            before = len(matches)
            _leaf_matches(leaf, where, kind, kinds, args, func, matches)
            if (
                keywords
                and len(matches) == before
                and key is not None
                and _keyword_score(str(key), accuracy) >= 0.7
            ):
                matches.append(Match(where, "pii_keyword", _length(leaf)))
    return matches


def _leaf_matches(
    leaf: Any,
    where: paths.Concrete,
    kind: str,
    kinds: Iterable[str],
    args: Sequence[Any],
    func: Callable[[Any, str], bool] | None,
    out: list[Match],
) -> None:
    if kind == "custom":
        if func is None:
            raise ValueError("the custom detector needs func=callable(value, path) -> bool")
        if func(leaf, paths.format_path(where)):
            out.append(Match(where, kind, _length(leaf)))
        return
    predicate = VALUE_DETECTORS.get(kind)
    if predicate is not None:
        if predicate(leaf, args):
            out.append(Match(where, kind, _length(leaf)))
        return
    if isinstance(leaf, int) and not isinstance(leaf, bool):
        leaf = str(leaf)  # card numbers and phone numbers are often sent as integers
    elif isinstance(leaf, float):
        return  # a float (a price, a measure) holds no PII: its digits are not a card or phone
    if not isinstance(leaf, str):
        return
    if kind == "pii_any":
        kinds = _pii_candidates(leaf)
    for pii in kinds:
        if _pii_search(pii, leaf):
            out.append(Match(where, pii, len(leaf)))
            return


def _keyword_matches(
    value: Any,
    at: paths.Concrete,
    accuracy: bool,
    floor: float,
    deadline: float,
    out: list[Match],
) -> None:
    for count, (where, key, leaf) in enumerate(paths.walk(value, at)):
        if count % _CHECK_EVERY == _CHECK_EVERY - 1 and time.perf_counter() > deadline:
            raise StepTimeout("pii_keyword ran past its time budget")
        if (
            key is not None
            and _keyword_score(str(key), accuracy) >= floor
            and not any(match.path == where for match in out)
        ):
            out.append(Match(where, "pii_keyword", _length(leaf)))


def detect_text(
    text: str,
    kind: str,
    args: Sequence[Any] = (),
    *,
    func: Callable[[Any, str], bool] | None = None,
) -> list[Match]:
    """Matches in a plaintext payload, as character spans (for mask/replace by span)."""
    if kind in _PII or kind == "pii_any":
        kinds = PII_TYPES if kind == "pii_any" else (kind,)
        matches = []
        for pii in kinds:
            for start, end in _pii_search(pii, text):
                matches.append(Match((), pii, end - start, (start, end)))
        return _without_overlaps(matches)
    if kind == "regex":
        return [
            Match((), kind, found.end() - found.start(), found.span())
            for found in _compiled(str(args[0])).finditer(text)
        ]
    if kind == "custom":
        if func is None:
            raise ValueError("the custom detector needs func=callable(value, path) -> bool")
        return [Match((), kind, len(text), (0, len(text)))] if func(text, "") else []
    predicate = VALUE_DETECTORS.get(kind)
    if predicate is None:
        if kind == "is_empty":
            return [Match((), kind, 0, (0, 0))] if not text.strip() else []
        raise ValueError(f"detector {kind!r} needs a JSON payload (data_format='json')")
    return [Match((), kind, len(text), (0, len(text)))] if predicate(text, args) else []


def _without_overlaps(matches: list[Match]) -> list[Match]:
    matches.sort(key=lambda match: (match.span or (0, 0))[0])
    kept: list[Match] = []
    end = -1
    for match in matches:
        span = match.span or (0, 0)
        if span[0] >= end:
            kept.append(match)
            end = span[1]
    return kept


def _length(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    return len(str(value)) if value is not None else 0
