"""GeventConnection under ``gevent.monkey.patch_all()``: the scenario suite, in a subprocess.

Monkey-patching changes the whole process (sockets, threads, ssl), so it runs in a Python of its
own that patches before anything else is imported, then runs test_gevent_scenarios.py there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = pytest.mark.broker

_RUNNER = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import socket, sys, threading
    import gevent.socket, gevent.threading
    assert socket.socket is gevent.socket.socket, "patch_all did not patch socket"
    import pytest
    sys.exit(pytest.main(sys.argv[1:]))
    """
)


def test_scenario_suite_passes_under_monkey_patching(amqp_url: str) -> None:
    env = dict(os.environ, PIKA_CORE_TEST_URL=amqp_url)
    result = subprocess.run(  # noqa: PLW1510 - the status is asserted below
        [
            sys.executable,
            "-c",
            _RUNNER,
            os.path.join(HERE, "test_gevent_scenarios.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(HERE))),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in result.stdout and "failed" not in result.stdout, output[-3000:]
