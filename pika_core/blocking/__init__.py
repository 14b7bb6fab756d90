"""The blocking adapter: BlockingConnection and BlockingChannel over one socket in the caller's
thread (import them from ``pika_core.adapters.blocking_connection`` or ``pika_core``)."""
