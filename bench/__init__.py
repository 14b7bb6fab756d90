"""Benchmarks of pika-core against pika, run with ``python -m bench.<name>`` from the repo root."""
