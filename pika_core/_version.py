"""The one place the version of pika-core (and of every plugin) is written."""

__version__ = "0.1.0"
