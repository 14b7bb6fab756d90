"""The RabbitMQ management HTTP API of a test node: fast connection kills and topology wipes.

An HTTP call takes about 10 ms where a ``rabbitmqctl`` call boots an Erlang VM for 1-2 s, so
fault tests that kill connections in a loop go through here.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict

__all__ = ["ManagementApi", "ManagementError"]

JsonObject = Dict[str, Any]


class ManagementError(RuntimeError):
    """An HTTP API call answered with an unexpected status."""


class ManagementApi:
    """A minimal client of ``http://127.0.0.1:<port>/api`` with guest credentials."""

    def __init__(self, port: int, user: str = "guest", password: str = "guest") -> None:
        self.base = f"http://127.0.0.1:{port}/api"
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._auth = f"Basic {token}"

    def request(
        self,
        method: str,
        path: str,
        body: Any | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Any:
        """Call the API and return the decoded JSON (None for an empty answer)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", self._auth)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ManagementError(f"{method} {path} answered {exc.code}: {detail}") from exc
        return json.loads(payload) if payload else None

    def ready(self) -> bool:
        """True when the API answers (the management plugin has started)."""
        try:
            self.request("GET", "/overview", timeout=2.0)
        except (OSError, ManagementError):
            return False
        return True

    # --- connections -------------------------------------------------------------------------

    def connections(self) -> list[JsonObject]:
        """The connections the stats database knows (it lags the broker by the stats interval)."""
        result: list[JsonObject] = self.request("GET", "/connections")
        return result

    def wait_connections(
        self,
        count: int = 1,
        match: Callable[[JsonObject], bool] | None = None,
        timeout: float = 30.0,
    ) -> list[JsonObject]:
        """Poll until at least ``count`` connections (matching ``match``) are listed."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.connections() if match is None or match(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(found)} of {count} expected connections listed after {timeout} s; "
                    "is the client connected to this node?"
                )
            time.sleep(0.1)

    def close_connection(self, name: str, reason: str = "closed-by-test") -> None:
        """Force-close one connection (the client sees 320 CONNECTION_FORCED - ``reason``)."""
        quoted = urllib.parse.quote(name, safe="")
        self.request("DELETE", f"/connections/{quoted}", headers={"X-Reason": reason})

    # --- topology ----------------------------------------------------------------------------

    def queues(self, vhost: str = "/") -> list[JsonObject]:
        """Every queue of ``vhost`` as the API describes it."""
        result: list[JsonObject] = self.request("GET", f"/queues/{_vhost(vhost)}")
        return result

    def queue(self, name: str, vhost: str = "/") -> JsonObject:
        """One queue's description (messages, consumers, leader and members for quorum queues)."""
        result: JsonObject = self.request(
            "GET", f"/queues/{_vhost(vhost)}/{urllib.parse.quote(name, safe='')}"
        )
        return result

    def declare_queue(
        self,
        name: str,
        arguments: JsonObject | None = None,
        durable: bool = True,
        vhost: str = "/",
    ) -> None:
        """Declare a queue out of band (a test's own setup, not the client under test)."""
        body = {"durable": durable, "auto_delete": False, "arguments": arguments or {}}
        self.request("PUT", f"/queues/{_vhost(vhost)}/{urllib.parse.quote(name, safe='')}", body)

    def delete_queue(self, name: str, vhost: str = "/") -> None:
        """Delete a queue; a queue already gone is not an error."""
        try:
            self.request("DELETE", f"/queues/{_vhost(vhost)}/{urllib.parse.quote(name, safe='')}")
        except ManagementError as exc:
            if " 404:" not in str(exc):
                raise

    def exchanges(self, vhost: str = "/") -> list[JsonObject]:
        """Every exchange of ``vhost``."""
        result: list[JsonObject] = self.request("GET", f"/exchanges/{_vhost(vhost)}")
        return result

    def delete_exchange(self, name: str, vhost: str = "/") -> None:
        """Delete an exchange; one already gone is not an error."""
        try:
            self.request(
                "DELETE", f"/exchanges/{_vhost(vhost)}/{urllib.parse.quote(name, safe='')}"
            )
        except ManagementError as exc:
            if " 404:" not in str(exc):
                raise

    def wipe(self, vhost: str = "/") -> None:
        """Delete every queue and every exchange a test declared (the built-in ones stay)."""
        for queue in self.queues(vhost):
            self.delete_queue(queue["name"], vhost)
        for exchange in self.exchanges(vhost):
            name = exchange["name"]
            if name and not name.startswith("amq."):
                self.delete_exchange(name, vhost)


def _vhost(vhost: str) -> str:
    return urllib.parse.quote(vhost, safe="")
