"""Fault-injection tests: a package so that its ``support`` never shadows tests/support."""
