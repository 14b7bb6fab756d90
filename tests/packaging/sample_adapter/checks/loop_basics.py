"""Run in a fresh environment: the sample's loop and I/O services keep pika-core's contract.

Timers fire in order (equal times first in, first out) and a cancelled one never fires; a
callback handed over from another thread runs on the loop's thread; getaddrinfo answers on the
loop's thread; stop() ends run(). Prints one JSON object for the test to assert on.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
from typing import Any

from pika_sample_loop import SampleLoopIOServices, SchedLoop

from pika_core.adapters.utils.nbio_interface import AbstractIOServices


def main() -> None:
    loop = SchedLoop()
    services = SampleLoopIOServices(loop)
    fired: list[str] = []
    report: dict[str, Any] = {"is_io_services": isinstance(services, AbstractIOServices)}
    loop_thread = threading.get_ident()

    services.call_later(0.05, lambda: fired.append("late"))
    for name in ("first", "second", "third"):  # equal delays: scheduled order
        services.call_later(0, functools.partial(fired.append, name))
    services.call_later(0.01, lambda: fired.append("cancelled")).cancel()

    def from_thread() -> None:
        report["threadsafe_on_loop_thread"] = threading.get_ident() == loop_thread

    def on_resolved(result: Any) -> None:
        report["getaddrinfo_on_loop_thread"] = threading.get_ident() == loop_thread
        report["getaddrinfo_ok"] = not isinstance(result, BaseException) and bool(result)

    threading.Thread(target=services.add_callback_threadsafe, args=(from_thread,)).start()
    services.getaddrinfo("localhost", 5672, on_resolved, socktype=socket.SOCK_STREAM)
    services.call_later(0.5, services.stop)
    services.run()
    report["fired"] = fired
    services.close()
    try:
        loop.add_callback_threadsafe(lambda: None)
    except RuntimeError:
        report["closed_rejects_callbacks"] = True
    print(json.dumps(report))


if __name__ == "__main__":
    main()
