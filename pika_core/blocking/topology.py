"""The exchange, queue and transaction methods of BlockingChannel: one RPC each.

Each sends its method with ``_rpc_frame`` and returns the reply as pika does, a
``frame.Method`` whose ``.method`` is the broker's answer (``Queue.DeclareOk`` and so on).
"""

from __future__ import annotations

from typing import Any

from pika_core import spec
from pika_core.exchange_type import ExchangeType

__all__ = ["TopologyMethods"]


def _require_str(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}: {value!r}")


class TopologyMethods:
    """Mixin of BlockingChannel; ``_rpc_frame(method)`` waits for the reply frame."""

    def _rpc_frame(self, method: Any) -> Any:
        raise NotImplementedError

    # -- exchanges -----------------------------------------------------------------------------

    def exchange_declare(
        self,
        exchange: str,
        exchange_type: ExchangeType | str = ExchangeType.direct,
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> Any:
        """Declare an exchange; return the Exchange.DeclareOk method frame."""
        _require_str(exchange, "exchange")
        kind = exchange_type.value if isinstance(exchange_type, ExchangeType) else exchange_type
        return self._rpc_frame(
            spec.Exchange.Declare(
                exchange=exchange,
                type=kind,
                passive=passive,
                durable=durable,
                auto_delete=auto_delete,
                internal=internal,
                arguments=arguments,
            )
        )

    def exchange_delete(self, exchange: str | None = None, if_unused: bool = False) -> Any:
        """Delete an exchange; return the Exchange.DeleteOk method frame."""
        return self._rpc_frame(spec.Exchange.Delete(exchange=exchange, if_unused=if_unused))

    def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> Any:
        """Bind exchange ``destination`` to ``source``; return the Exchange.BindOk frame."""
        _require_str(destination, "destination")
        _require_str(source, "source")
        return self._rpc_frame(
            spec.Exchange.Bind(
                destination=destination, source=source, routing_key=routing_key, arguments=arguments
            )
        )

    def exchange_unbind(
        self,
        destination: str | None = None,
        source: str | None = None,
        routing_key: str = "",
        arguments: dict[str, Any] | None = None,
    ) -> Any:
        """Remove an exchange-to-exchange binding; return the Exchange.UnbindOk frame."""
        return self._rpc_frame(
            spec.Exchange.Unbind(
                destination=destination, source=source, routing_key=routing_key, arguments=arguments
            )
        )

    # -- queues --------------------------------------------------------------------------------

    def queue_declare(
        self,
        queue: str,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> Any:
        """Declare a queue ('' for a server-named one); return the Queue.DeclareOk frame."""
        _require_str(queue, "queue")
        return self._rpc_frame(
            spec.Queue.Declare(
                queue=queue,
                passive=passive,
                durable=durable,
                exclusive=exclusive,
                auto_delete=auto_delete,
                arguments=arguments,
            )
        )

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False) -> Any:
        """Delete a queue; return the Queue.DeleteOk frame (with message_count)."""
        return self._rpc_frame(
            spec.Queue.Delete(queue=queue, if_unused=if_unused, if_empty=if_empty)
        )

    def queue_purge(self, queue: str) -> Any:
        """Remove every ready message of a queue; return the Queue.PurgeOk frame."""
        return self._rpc_frame(spec.Queue.Purge(queue=queue))

    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> Any:
        """Bind a queue to an exchange (routing_key defaults to the queue name)."""
        _require_str(queue, "queue")
        _require_str(exchange, "exchange")
        if routing_key is None:
            routing_key = queue
        return self._rpc_frame(
            spec.Queue.Bind(
                queue=queue, exchange=exchange, routing_key=routing_key, arguments=arguments
            )
        )

    def queue_unbind(
        self,
        queue: str,
        exchange: str,
        routing_key: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> Any:
        """Remove a queue binding (routing_key defaults to the queue name)."""
        if routing_key is None:
            routing_key = queue
        return self._rpc_frame(
            spec.Queue.Unbind(
                queue=queue, exchange=exchange, routing_key=routing_key, arguments=arguments
            )
        )

    # -- transactions --------------------------------------------------------------------------

    def tx_select(self) -> Any:
        """Put the channel in transaction mode; return the Tx.SelectOk frame."""
        return self._rpc_frame(spec.Tx.Select())

    def tx_commit(self) -> Any:
        """Commit the current transaction; return the Tx.CommitOk frame."""
        return self._rpc_frame(spec.Tx.Commit())

    def tx_rollback(self) -> Any:
        """Roll back the current transaction; return the Tx.RollbackOk frame."""
        return self._rpc_frame(spec.Tx.Rollback())
