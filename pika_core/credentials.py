"""SASL credentials offered to the broker in connection.start-ok (pika's ``pika.credentials``).

Pass a ``PlainCredentials`` (or ``ExternalCredentials`` with TLS client certificates) as the
``credentials`` of ``ConnectionParameters``; ``URLParameters`` builds one from the URL.
Append a class of your own to ``VALID_TYPES`` to use another mechanism.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Optional, Protocol, Tuple

__all__ = ["VALID_TYPES", "Credentials", "ExternalCredentials", "PlainCredentials"]

LOGGER = logging.getLogger(__name__)

#: What ``response_for`` returns: (mechanism name, response bytes) or (None, None).
Response = Tuple[Optional[str], Optional[bytes]]


class Credentials(Protocol):
    """What the connection needs from a credentials object (for type checkers only)."""

    TYPE: str
    erase_on_connect: bool

    def response_for(self, start: Any) -> Response:
        """Return (mechanism, response) for the server's connection.start, or (None, None)."""

    def erase_credentials(self) -> None:
        """Forget the secret once the connection no longer needs it."""


def _offers(start: Any, mechanism: bytes) -> bool:
    """Whether the server's space-separated ``start.mechanisms`` (bytes or str) has ``mechanism``."""
    offered = start.mechanisms
    if isinstance(offered, str):
        offered = offered.encode("utf-8")
    elif not isinstance(offered, (bytes, bytearray)):
        return False
    return mechanism in bytes(offered).split()


def _secret_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _check_part(value: Any, name: str) -> str | bytes:
    """Check one half of a PLAIN login; the message never echoes the value itself."""
    if not isinstance(value, (str, bytes)):
        raise TypeError(
            f"PlainCredentials {name} must be a str (or UTF-8 bytes), got {type(value).__name__}"
        )
    if (value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value).count(0):
        raise ValueError(
            f"PlainCredentials {name} must not contain a NUL character: "
            "SASL PLAIN uses NUL as its separator"
        )
    return value


class PlainCredentials:
    """Username and password for the SASL PLAIN mechanism (RabbitMQ's default).

    With ``erase_on_connect=True`` the username and password are dropped from memory once
    the connection has sent them.
    """

    __slots__ = ("erase_on_connect", "password", "username")

    TYPE = "PLAIN"

    def __init__(
        self,
        username: str | bytes,
        password: str | bytes,
        erase_on_connect: bool = False,
    ) -> None:
        self.username: str | bytes | None = _check_part(username, "username")
        self.password: str | bytes | None = _check_part(password, "password")
        self.erase_on_connect = bool(erase_on_connect)

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} username={self.username!r} password=*** "
            f"erase_on_connect={self.erase_on_connect}>"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlainCredentials):
            return NotImplemented
        return (
            self.username == other.username
            and self.erase_on_connect == other.erase_on_connect
            and _same_secret(self.password, other.password)
        )

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]

    def response_for(self, start: Any) -> Response:
        """Return ``('PLAIN', b'\\0user\\0pass')``, or (None, None) if the server lacks PLAIN."""
        if not _offers(start, b"PLAIN"):
            return None, None
        if self.username is None or self.password is None:
            raise ValueError(
                "these PlainCredentials were erased after connecting (erase_on_connect=True); "
                "create new PlainCredentials to connect again"
            )
        return self.TYPE, b"\0" + _secret_bytes(self.username) + b"\0" + _secret_bytes(
            self.password
        )

    def erase_credentials(self) -> None:
        """Drop the username and password if ``erase_on_connect`` is set."""
        if self.erase_on_connect:
            LOGGER.info("Erasing stored credential values")
            self.username = None
            self.password = None


def _same_secret(a: str | bytes | None, b: str | bytes | None) -> bool:
    """Compare two secrets in constant time, so equality checks do not leak timing."""
    if a is None or b is None:
        return a is b
    if type(a) is not type(b):
        return False
    return hmac.compare_digest(_secret_bytes(a), _secret_bytes(b))


class ExternalCredentials:
    """The SASL EXTERNAL mechanism: the broker authenticates the TLS client certificate."""

    __slots__ = ("erase_on_connect",)

    TYPE = "EXTERNAL"

    def __init__(self) -> None:
        self.erase_on_connect = False

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExternalCredentials):
            return NotImplemented
        return self.erase_on_connect == other.erase_on_connect

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]

    def response_for(self, start: Any) -> Response:
        """Return ``('EXTERNAL', b'')``, or (None, None) if the server lacks EXTERNAL."""
        if not _offers(start, b"EXTERNAL"):
            return None, None
        return self.TYPE, b""

    def erase_credentials(self) -> None:
        """Nothing to erase: EXTERNAL holds no secret."""
        LOGGER.debug("ExternalCredentials hold no secret to erase")


#: Credential classes ``Parameters.credentials`` accepts; append your own class to extend it.
VALID_TYPES: list[type] = [PlainCredentials, ExternalCredentials]
