"""pika_core.compat: the pika 1.4 compat names user programs may import."""

from __future__ import annotations

import abc
import socket
import time

import pytest

from pika_core import compat
from pika_core.data import Long


def test_exported_names_exist() -> None:
    for name in compat.__all__ + ["_LOCALHOST", "_LOCALHOST_V6"]:
        assert hasattr(compat, name), name


def test_long_is_the_codec_marker_type() -> None:
    assert compat.long is Long
    assert compat.long(5) == 5 and isinstance(compat.long(5), int)


def test_as_bytes() -> None:
    assert compat.as_bytes("h\u00e9") == b"h\xc3\xa9"
    raw = b"\xff\x00"
    assert compat.as_bytes(raw) is raw


def test_byte() -> None:
    assert compat.byte(65) == b"A"
    assert compat.byte(0, 255) == b"\x00\xff"


def test_time_now_is_monotonic_seconds() -> None:
    first = compat.time_now()
    second = compat.time_now()
    assert second >= first
    assert abs(first - time.monotonic()) < 5


@pytest.mark.parametrize(
    ("text", "number"), [("12", 12), ("3rc1", 3), ("0", 0), ("x1", 0), ("", 0), ("15+", 15)]
)
def test_to_digit(text: str, number: int) -> None:
    assert compat.to_digit(text) == number


@pytest.mark.parametrize(
    ("release", "version"),
    [
        ("5.15.0-91-generic", (5, 15, 0)),
        ("6.1.55", (6, 1, 55)),
        ("4.4.0-rc1", (4, 4, 0)),
        ("4.19.112+", (4, 19, 112)),
        ("3.10", (3, 10)),
        ("2.6.32.5.el6", (2, 6, 32)),
    ],
)
def test_get_linux_version(release: str, version: tuple[int, ...]) -> None:
    assert compat.get_linux_version(release) == version


def test_platform_flags() -> None:
    assert [compat.ON_LINUX, compat.ON_OSX, compat.ON_WINDOWS].count(True) <= 1
    if compat.ON_LINUX:
        assert isinstance(compat.LINUX_VERSION, tuple) and len(compat.LINUX_VERSION) == 3
    else:
        assert compat.LINUX_VERSION is None


def test_constants() -> None:
    assert compat.SOCKET_ERROR is OSError
    assert compat.SOL_TCP in (getattr(socket, "SOL_TCP", None), socket.IPPROTO_TCP)
    assert compat.str_or_bytes == (str, bytes)
    assert compat._LOCALHOST == "127.0.0.1"
    assert compat._LOCALHOST_V6 == "::1"
    assert isinstance(compat.HAVE_SIGNAL, bool)


def test_abstract_base() -> None:
    class Service(compat.AbstractBase):
        @abc.abstractmethod
        def run(self) -> None: ...

    class Impl(Service):
        def run(self) -> None:
            return None

    with pytest.raises(TypeError):
        Service()  # type: ignore[abstract]
    Impl().run()
    assert isinstance(compat.AbstractBase, abc.ABCMeta)


def test_nonblocking_socketpair_connects_both_ways() -> None:
    server, client = compat.nonblocking_socketpair()
    try:
        assert server.getblocking() is False and client.getblocking() is False
        client.sendall(b"ping")
        deadline = time.monotonic() + 5
        received = b""
        while received != b"ping" and time.monotonic() < deadline:
            try:
                received += server.recv(16)
            except BlockingIOError:
                time.sleep(0.01)
        assert received == b"ping"
        with pytest.raises(BlockingIOError):
            client.recv(16)
    finally:
        server.close()
        client.close()


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"family": socket.AF_UNIX}, "family"),
        ({"socket_type": socket.SOCK_DGRAM}, "socket_type"),
        ({"proto": 6}, "proto"),
    ],
)
def test_nonblocking_socketpair_rejects_unsupported(kwargs: dict[str, int], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        compat.nonblocking_socketpair(**kwargs)
