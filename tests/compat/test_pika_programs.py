"""Unmodified pika programs run on pika-core: ``import pika`` resolves to pika_core.

Each program under programs/ is written as a pika user writes one (``import pika``, the tutorial
idioms) and checks its own results with asserts. The test runs it in a subprocess with shim/
first on sys.path, where the ``pika`` package hands every import to pika_core, and checks the
exit status and what it printed. The programs connect to ``localhost`` as pika's tutorials do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from pika_core.adapters.blocking_connection import BlockingConnection
from pika_core.parameters import URLParameters

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
SHIM = HERE / "shim"
TIMEOUT = 120  # a guard against a hang, never a speed check

pytestmark = pytest.mark.broker


@pytest.fixture(autouse=True)
def _local_broker(amqp_url: str) -> None:
    if "127.0.0.1" not in amqp_url and "localhost" not in amqp_url:
        pytest.skip("the pika programs connect to localhost, as pika's tutorials do")


def _env() -> dict[str, str]:
    path = [str(SHIM), str(ROOT)]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), PYTHONUNBUFFERED="1")


def start(program: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PROGRAMS / program), *args],
        cwd=PROGRAMS,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"{process.args!r} hung; output:\n{output}")
    assert process.returncode == 0, f"{process.args!r} exited {process.returncode}:\n{output}"
    return output


def run(program: str, *args: str) -> str:
    return finish(start(program, *args))


@pytest.fixture
def unique(amqp_url: str) -> Iterator[Callable[[str], str]]:
    """Makes names no other test uses; the queues and exchanges so named are deleted afterwards."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(f"pika-core-compat.{prefix}.{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield make
    with BlockingConnection(URLParameters(amqp_url)) as connection:
        channel = connection.channel()
        for name in made:
            channel.queue_delete(name)
            channel.exchange_delete(name)


def test_programs_are_plain_pika_programs() -> None:
    programs = sorted(PROGRAMS.glob("*.py"))
    assert len(programs) >= 10
    for program in programs:
        source = program.read_text()
        assert "\nimport pika\n" in source, program.name
        assert "pika_core" not in source, program.name


def test_the_shim_aliases_pika_to_pika_core_without_copies() -> None:
    check = (
        "import pika, pika.exceptions, pika.spec, pika_core, pika_core.exceptions\n"
        "from pika.adapters.blocking_connection import BlockingConnection\n"
        "import pika_core.adapters.blocking_connection as real\n"
        "assert pika is pika_core\n"
        "assert pika.exceptions is pika_core.exceptions\n"
        "assert BlockingConnection is real.BlockingConnection\n"
        "assert pika.exceptions.__spec__.name == 'pika_core.exceptions'\n"
        "print('aliased')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "aliased"


def test_hello_world_send_then_receive(unique: Callable[[str], str]) -> None:
    queue = unique("hello")
    sent = run("hello_send.py", queue)
    assert " [x] Sent 'Hello World!'" in sent
    received = run("hello_receive.py", queue)
    assert " [x] Received Hello World!" in received


def test_work_queue_with_acks_and_prefetch(unique: Callable[[str], str]) -> None:
    output = run("work_queues.py", unique("tasks"))
    assert output.count(" [x] Done ") == 5
    assert output.rstrip().endswith("work queue OK")


def test_publish_subscribe_fanout(unique: Callable[[str], str]) -> None:
    output = run("pubsub_fanout.py", unique("logs"))
    assert output.count("got 3 messages") == 2
    assert "fanout OK" in output


def test_routing_with_a_direct_exchange(unique: Callable[[str], str]) -> None:
    output = run("routing_direct.py", unique("direct"))
    assert " [x] errors_only: ['error:b', 'error:e']" in output
    assert "direct OK" in output


def test_topics(unique: Callable[[str], str]) -> None:
    output = run("topics.py", unique("topics"))
    assert " [x] all: 5" in output and " [x] deep: 2" in output
    assert "topics OK" in output


def test_rpc_over_a_callback_queue(unique: Callable[[str], str]) -> None:
    queue = unique("rpc")
    server = start("rpc_server.py", queue, "3")
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # the server has declared its queue once this prints
        assert "Awaiting RPC requests" in first, first
        client = run("rpc_client.py", queue)
    finally:
        server_output = first + finish(server)
    assert " [.] Got 5" in client and " [.] Got 55" in client and " [.] Got 6765" in client
    assert server_output.count(" [.] fib(") == 3


def test_publisher_confirms_and_unroutable_error(unique: Callable[[str], str]) -> None:
    output = run("confirms_unroutable.py", unique("confirms"))
    assert " [!] unroutable: NO_ROUTE" in output
    assert " [!] channel closed: 404 NOT_FOUND" in output
    assert "confirms OK" in output


def test_basic_get_polling(unique: Callable[[str], str]) -> None:
    output = run("basic_get_poll.py", unique("polled"))
    assert " [x] polled 3 messages" in output
    assert "basic_get OK" in output


def test_consume_generator_with_inactivity_timeout(unique: Callable[[str], str]) -> None:
    output = run("consume_generator.py", unique("generated"))
    assert " [x] consumed [0, 1, 2, 3, 4]" in output
    assert "generator ended after the queue was deleted" in output
    assert "consume generator OK" in output
