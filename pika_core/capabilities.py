"""The broker's capability flags by pika's names, shared by both connection classes.

pika's BlockingConnection names them ``*_supported`` (with the pika 0.x names as aliases);
its callback ``Connection`` uses the short names. Both classes here offer both spellings.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerCapabilities"]


class ServerCapabilities:
    """Read-only flags from the ``capabilities`` table of the broker's server properties."""

    __slots__ = ()

    def _capability(self, name: str) -> bool:
        properties: Any = getattr(self, "server_properties", None) or {}
        capabilities = properties.get("capabilities")
        return bool(capabilities.get(name, False)) if isinstance(capabilities, dict) else False

    @property
    def basic_nack_supported(self) -> bool:
        """Whether the broker supports basic.nack."""
        return self._capability("basic.nack")

    @property
    def consumer_cancel_notify_supported(self) -> bool:
        """Whether the broker sends basic.cancel when a consumer's queue goes away."""
        return self._capability("consumer_cancel_notify")

    @property
    def exchange_exchange_bindings_supported(self) -> bool:
        """Whether the broker supports exchange-to-exchange bindings."""
        return self._capability("exchange_exchange_bindings")

    @property
    def publisher_confirms_supported(self) -> bool:
        """Whether the broker supports publisher confirms (confirm.select)."""
        return self._capability("publisher_confirms")

    # The short names (pika's callback Connection, and BlockingConnection's legacy aliases).
    basic_nack = basic_nack_supported
    consumer_cancel_notify = consumer_cancel_notify_supported
    exchange_exchange_bindings = exchange_exchange_bindings_supported
    publisher_confirms = publisher_confirms_supported
