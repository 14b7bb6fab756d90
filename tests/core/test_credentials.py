"""PlainCredentials and ExternalCredentials: SASL responses, erasure, equality, no leaks."""

from __future__ import annotations

import copy
import logging
from typing import Any, NamedTuple, Union

import pytest

from pika_core import credentials
from pika_core.credentials import VALID_TYPES, ExternalCredentials, PlainCredentials

SECRET = "s3cr3t-pa55"


class Start(NamedTuple):
    """Stands in for spec.Connection.Start: only ``mechanisms`` is read."""

    mechanisms: Union[bytes, str]  # noqa: UP007 (evaluated at runtime on Python 3.8)


def test_plain_type_and_defaults() -> None:
    creds = PlainCredentials("alice", SECRET)
    assert PlainCredentials.TYPE == "PLAIN"
    assert creds.username == "alice"
    assert creds.password == SECRET
    assert creds.erase_on_connect is False


def test_plain_positional_erase_on_connect() -> None:
    assert PlainCredentials("a", "b", True).erase_on_connect is True


@pytest.mark.parametrize("mechanisms", [b"AMQPLAIN PLAIN", "PLAIN", b"PLAIN EXTERNAL"])
def test_plain_response_when_offered(mechanisms: bytes | str) -> None:
    creds = PlainCredentials("alice", SECRET)
    assert creds.response_for(Start(mechanisms)) == ("PLAIN", b"\0alice\0" + SECRET.encode())


@pytest.mark.parametrize("mechanisms", [b"AMQPLAIN", b"", "EXTERNAL", b"XPLAIN PLAINX"])
def test_plain_response_none_when_not_offered(mechanisms: bytes | str) -> None:
    assert PlainCredentials("a", "b").response_for(Start(mechanisms)) == (None, None)


def test_plain_response_encodes_utf8_and_accepts_bytes() -> None:
    creds = PlainCredentials("j\u00fcrgen", b"p\xc3\xa4ss")
    assert creds.response_for(Start(b"PLAIN")) == ("PLAIN", b"\0j\xc3\xbcrgen\0p\xc3\xa4ss")


@pytest.mark.parametrize("field", ["username", "password"])
def test_plain_rejects_nul_without_echoing(field: str) -> None:
    args: dict[str, Any] = {"username": "user", "password": SECRET}
    args[field] = "ab\0" + SECRET
    with pytest.raises(ValueError, match=field) as info:
        PlainCredentials(**args)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("field", ["username", "password"])
def test_plain_rejects_non_string(field: str) -> None:
    args: dict[str, Any] = {"username": "user", "password": "pw"}
    args[field] = 1234
    with pytest.raises(TypeError, match=field) as info:
        PlainCredentials(**args)
    assert "1234" not in str(info.value)


def test_plain_repr_and_str_hide_password() -> None:
    creds = PlainCredentials("alice", SECRET)
    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)
    assert "alice" in repr(creds)


def test_plain_equality_compares_all_fields() -> None:
    base = PlainCredentials("a", "b")
    assert base == PlainCredentials("a", "b")
    assert (base != PlainCredentials("a", "b")) is False
    assert base != PlainCredentials("a", "c")
    assert base != PlainCredentials("x", "b")
    assert base != PlainCredentials("a", "b", erase_on_connect=True)
    assert base != ExternalCredentials()
    assert base != ("a", "b")


def test_plain_erase_credentials_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    kept = PlainCredentials("a", SECRET)
    kept.erase_credentials()
    assert (kept.username, kept.password) == ("a", SECRET)

    erased = PlainCredentials("a", SECRET, erase_on_connect=True)
    with caplog.at_level(logging.DEBUG, logger="pika_core.credentials"):
        erased.erase_credentials()
    assert erased.username is None
    assert erased.password is None
    assert SECRET not in caplog.text


def test_plain_response_after_erase_says_how_to_fix() -> None:
    creds = PlainCredentials("a", "b", erase_on_connect=True)
    creds.erase_credentials()
    with pytest.raises(ValueError, match="erase_on_connect"):
        creds.response_for(Start(b"PLAIN"))


def test_plain_slots_reject_unknown_attributes() -> None:
    creds = PlainCredentials("a", "b")
    with pytest.raises(AttributeError):
        creds.pasword = "typo"  # type: ignore[attr-defined]


def test_plain_deepcopy_is_equal_and_independent() -> None:
    creds = PlainCredentials("a", "b")
    clone = copy.deepcopy(creds)
    assert clone == creds and clone is not creds
    clone.username = "z"
    assert creds.username == "a"


def test_external_credentials() -> None:
    creds = ExternalCredentials()
    assert ExternalCredentials.TYPE == "EXTERNAL"
    assert creds.erase_on_connect is False
    assert creds.response_for(Start(b"PLAIN EXTERNAL")) == ("EXTERNAL", b"")
    assert creds.response_for(Start("EXTERNAL")) == ("EXTERNAL", b"")
    assert creds.response_for(Start(b"PLAIN")) == (None, None)
    creds.erase_credentials()
    assert creds == ExternalCredentials()
    assert creds != PlainCredentials("a", "b")


def test_valid_types_is_an_extensible_list() -> None:
    assert VALID_TYPES == [PlainCredentials, ExternalCredentials]
    assert isinstance(VALID_TYPES, list)
    assert credentials.VALID_TYPES is VALID_TYPES
