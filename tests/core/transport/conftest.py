"""Fixtures of the transport tests (defined in transport_support)."""

from __future__ import annotations

from transport_support import full_backlog, ioloop, make_server, tls_certs

__all__ = ["full_backlog", "ioloop", "make_server", "tls_certs"]
