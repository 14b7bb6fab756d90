"""Test shim: with this folder first on sys.path, ``import pika`` runs a program on pika_core.

``pika`` becomes the pika_core package itself, and a finder maps every ``pika.X`` submodule to
``pika_core.X``, so ``pika.exceptions.AMQPError is pika_core.exceptions.AMQPError``: one set of
modules, never a second copy loaded under another name.
"""

import importlib
import importlib.abc
import importlib.util
import sys

import pika_core


class _PikaAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``pika.X`` with the already imported (or now imported) ``pika_core.X``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("pika."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def __init__(self):
        self._specs = {}

    def create_module(self, spec):
        module = importlib.import_module("pika_core" + spec.name[len("pika") :])
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module):
        """The module already ran under its own name; give it back the spec the import replaced."""
        module.__spec__ = self._specs.pop(module.__name__, module.__spec__)


sys.meta_path.insert(0, _PikaAlias())
sys.modules["pika"] = pika_core
