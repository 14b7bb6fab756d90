"""Fixtures of the BlockingConnection integration tests (all against the real broker)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from pika_core.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika_core.parameters import URLParameters

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "support"))


@pytest.fixture
def params(amqp_url: str) -> URLParameters:
    """Fresh parameters for the test broker."""
    return URLParameters(amqp_url)


@pytest.fixture
def name() -> str:
    """A name no other test uses, for queues and exchanges."""
    return f"pika-core-test.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def connection(params: URLParameters) -> Iterator[BlockingConnection]:
    """An open connection, closed after the test if still open."""
    conn = BlockingConnection(params)
    yield conn
    if conn.is_open:
        conn.close()


@pytest.fixture
def channel(connection: BlockingConnection) -> BlockingChannel:
    """An open channel on ``connection``."""
    return connection.channel()


@pytest.fixture
def queue(params: URLParameters, name: str) -> Iterator[str]:
    """A durable-less queue named ``name``, deleted (with a separate connection) afterwards."""
    with BlockingConnection(params) as conn:
        conn.channel().queue_declare(name)
    yield name
    with BlockingConnection(params) as conn:
        conn.channel().queue_delete(name)
