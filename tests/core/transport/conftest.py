"""Fixtures of the transport tests (defined in transport_support)."""

from __future__ import annotations

import sys
from pathlib import Path

from transport_support import full_backlog, ioloop, make_server, tls_certs

# tests/support (counting_socket, shared with the blocking pump's tests) for the tests here.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))

__all__ = ["full_backlog", "ioloop", "make_server", "tls_certs"]
