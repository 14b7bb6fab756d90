"""The plugin manager: the one place plugins are found, registered, listed and asked for adapters.

Plugins come from the ``pika_core`` entry-point group (loaded lazily, once, one by one) or are
registered in-process with :func:`register`. The built-in adapters (blocking, select, asyncio)
are registered the same way, as a default plugin, so the core uses its own hooks.

Error policy: a plugin that fails to import, fails to load or fails validation is logged on the
``pika_core.plugins`` logger with its name and skipped; an exception from a hook implementation
is logged with the plugin's name and the call goes on without it. Neither ever reaches user code
or an I/O loop. (Registering an invalid plugin in-process with :func:`register` does raise: that
is the application's own code asking.)

Environment variables, read when the process-wide manager is created:

- ``PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry point (the built-in adapters and
  in-process plugins still work).
- ``PIKA_CORE_PLUGINS=a,b`` loads only the named entry points (entry-point or distribution name).
- ``PIKA_CORE_TRACE_HOOKS=1`` logs every hook call at DEBUG on ``pika_core.plugins``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Iterable,
    Iterator,
    Mapping,
    NamedTuple,
    Sequence,
    cast,
)

import pluggy

from pika_core import hookspecs
from pika_core._version import __version__
from pika_core.hookspecs import PROJECT_NAME, hookimpl

if sys.version_info >= (3, 10):
    from importlib import metadata as importlib_metadata
else:  # entry_points(group=...) and EntryPoint.dist need the backport before 3.10
    import importlib_metadata

if TYPE_CHECKING:
    from pluggy import HookImpl, HookimplOpts

__all__ = [
    "ENTRY_POINT_GROUP",
    "PLUGIN_EXTRAS",
    "AdapterSpec",
    "PikaPluginManager",
    "PluginInfo",
    "adapter_exports",
    "adapters",
    "get_plugin_manager",
    "hookimpl",
    "list_plugins",
    "new_plugin_manager",
    "register",
    "resolve_adapter",
    "unregister",
    "use_plugin_manager",
]

ENTRY_POINT_GROUP = "pika_core"
DISABLE_AUTOLOAD_ENV = "PIKA_CORE_DISABLE_PLUGIN_AUTOLOAD"
ALLOWLIST_ENV = "PIKA_CORE_PLUGINS"
TRACE_ENV = "PIKA_CORE_TRACE_HOOKS"
BUILTIN_PLUGIN_NAME = "builtin-adapters"

logger = logging.getLogger("pika_core.plugins")

#: The pika module paths served by the plugins of this repository -> the extra that installs one.
PLUGIN_EXTRAS = {
    "tornado_connection": "tornado",
    "gevent_connection": "gevent",
    "twisted_connection": "twisted",
}


# -------------------------------------------------------------------------------------------------
# What plugins provide and what is reported about them
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdapterSpec:
    """An adapter registered by name: its connection class and the pika module path it serves.

    ``connection_class`` and the values of ``extra`` may be objects or lazy ``"module:attr"``
    strings, imported on first use, so that discovering a plugin never imports its framework.
    ``extra`` holds the other names the pika module exports (for twisted: TwistedChannel, ...).
    """

    name: str
    connection_class: str | type
    pika_module: str
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"AdapterSpec name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.pika_module, str) or not self.pika_module.isidentifier():
            raise ValueError(
                f"AdapterSpec {self.name!r}: pika_module must be a module name inside "
                f"pika_core.adapters such as 'tornado_connection', got {self.pika_module!r}"
            )
        if not isinstance(self.connection_class, (str, type)):
            raise TypeError(
                f"AdapterSpec {self.name!r}: connection_class must be a class or a "
                f"'package.module:Class' string, got {self.connection_class!r}"
            )
        if not isinstance(self.extra, Mapping) or not all(
            isinstance(key, str) and key.isidentifier() for key in self.extra
        ):
            raise TypeError(
                f"AdapterSpec {self.name!r}: extra must map exported names (identifiers) to "
                f"objects or 'package.module:Attribute' strings, got {self.extra!r}"
            )
        for export, ref in self._references().items():
            if isinstance(ref, str) and not _REFERENCE.match(ref):
                raise ValueError(
                    f"AdapterSpec {self.name!r}: {export} is given as {ref!r}; give the object "
                    "itself or a 'package.module:Attribute' string"
                )

    @property
    def connection_class_name(self) -> str:
        """The name the connection class is exported under (``TornadoConnection``)."""
        ref = self.connection_class
        if isinstance(ref, str):
            return ref.rpartition(":")[2].rpartition(".")[2]
        return ref.__name__

    def _references(self) -> dict[str, object]:
        refs: dict[str, object] = {self.connection_class_name: self.connection_class}
        refs.update(self.extra)
        return refs

    def load_connection_class(self) -> type:
        """The connection class, imported now if it was given as a string."""
        loaded = self._load(self.connection_class_name, self.connection_class)
        if not isinstance(loaded, type):
            raise TypeError(
                f"adapter {self.name!r}: {self.connection_class!r} is {loaded!r}, not a class; "
                "point connection_class at the connection class"
            )
        return loaded

    def load_exports(self) -> dict[str, object]:
        """Every name the pika module exports (connection class and extra), imported now."""
        return {name: self._load(name, ref) for name, ref in self._references().items()}

    def _load(self, export: str, ref: object) -> object:
        if not isinstance(ref, str):
            return ref
        module_name, _, attr_path = ref.partition(":")
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(
                f"adapter {self.name!r} needs {ref!r} for {export}, but importing "
                f"{module_name} failed ({exc}); {_install_advice(self.pika_module)}",
                name=module_name,
            ) from exc
        for attr in attr_path.split("."):
            try:
                obj = getattr(obj, attr)
            except AttributeError as exc:
                raise ImportError(
                    f"adapter {self.name!r} names {ref!r} for {export}, but {module_name} has "
                    f"no {attr_path}; the plugin providing it is broken or of another version",
                    name=module_name,
                ) from exc
        return obj


_REFERENCE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class PluginInfo(NamedTuple):
    """What ``python -m pika_core plugins`` shows about one registered plugin."""

    name: str
    version: str | None
    distribution: str | None
    hooks: tuple[str, ...]
    adapters: tuple[str, ...]


class _AdapterRegistry(NamedTuple):
    by_name: dict[str, AdapterSpec]
    by_module: dict[str, AdapterSpec]
    provider: dict[str, str]  # adapter name -> plugin name


class _Distribution(NamedTuple):
    name: str
    version: str


# -------------------------------------------------------------------------------------------------
# The manager
# -------------------------------------------------------------------------------------------------


class PikaPluginManager(pluggy.PluginManager):
    """pluggy's PluginManager with pika-core's loading policy, validation and adapter registry."""

    def __init__(self, *, trace_hooks: bool = False) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        #: Log every hook call at DEBUG (set from PIKA_CORE_TRACE_HOOKS for the global manager).
        self.trace_hooks = trace_hooks
        self._adapter_registry: _AdapterRegistry | None = None
        self._distributions: dict[str, _Distribution] = {}

    # -- registration -----------------------------------------------------------------------------

    def parse_hookimpl_opts(self, plugin: object, name: str) -> HookimplOpts | None:
        """Also accept undecorated ``pika_*`` functions, so a plain module can be a plugin."""
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("pika_"):
            try:
                method = getattr(plugin, name)
            except Exception:  # noqa: BLE001 - a raising attribute is not a hook implementation
                return None
            if callable(method) and not isinstance(method, type):
                return cast(
                    "HookimplOpts",
                    {
                        "wrapper": False,
                        "hookwrapper": False,
                        "optionalhook": False,
                        "tryfirst": False,
                        "trylast": False,
                        "specname": None,
                    },
                )
        return opts

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``; raise PluginValidationError naming the problem if it is invalid."""
        plugin_name = super().register(plugin, name)
        if plugin_name is None:  # blocked
            return None
        try:
            self._validate(plugin, plugin_name)
        except BaseException:
            super().unregister(plugin)
            raise
        self._adapter_registry = None
        return plugin_name

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        """Unregister a plugin by object or name; its adapters go with it."""
        plugin_name = name if name is not None else self.get_name(plugin)
        removed = super().unregister(plugin, name)
        self._distributions.pop(plugin_name or "", None)
        self._adapter_registry = None
        return removed

    def _validate(self, plugin: object, plugin_name: str) -> None:
        for caller in self.get_hookcallers(plugin) or ():
            impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
            if not caller.has_spec():
                if any(not impl.optionalhook for impl in impls):
                    known = ", ".join(name for name in dir(hookspecs) if name[:5] == "pika_")
                    raise pluggy.PluginValidationError(
                        plugin,
                        f"plugin {plugin_name!r} implements {caller.name!r}, which is not a "
                        f"pika-core hook (misspelt?); the hooks are: {known}",
                    )
                continue
            for impl in impls:
                if getattr(impl, "wrapper", False) or impl.hookwrapper:
                    raise pluggy.PluginValidationError(
                        plugin,
                        f"plugin {plugin_name!r} implements {caller.name!r} as a wrapper; "
                        "pika-core calls each implementation on its own so that one plugin's "
                        "error cannot stop another, so write a plain implementation instead",
                    )

    def load_entrypoints(self, allowlist: Iterable[str] | None = None) -> list[str]:
        """Load and register the ``pika_core`` entry points, one by one; return the names loaded.

        A plugin that fails to import or to register is logged with its name and skipped.
        With ``allowlist``, only entry points whose name or distribution name is listed load.
        """
        wanted = None if allowlist is None else {_normalize(item) for item in allowlist}
        seen: dict[str, bool] = {}
        matched: set[str] = set()
        loaded: list[str] = []
        for ep in sorted(_entry_points(ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            if ep.name in seen:  # the same distribution twice on sys.path: the first one wins
                continue
            seen[ep.name] = True
            dist = getattr(ep, "dist", None)
            dist_name: str | None = dist.metadata["Name"] if dist is not None else None
            if wanted is not None:
                keys = {_normalize(ep.name), _normalize(dist_name)} & wanted
                if not keys:
                    logger.debug(
                        "plugin %r not loaded: %s does not list it", ep.name, ALLOWLIST_ENV
                    )
                    continue
                matched |= keys
            if self.get_plugin(ep.name) is not None or self.is_blocked(ep.name):
                continue
            origin = f"{ep.value} from {dist_name}" if dist_name else ep.value
            try:
                plugin = ep.load()
            except Exception:
                logger.exception(
                    "Error importing pika-core plugin %r (%s); it is skipped. Reinstall it, "
                    "uninstall it, or list the plugins to load in %s.",
                    ep.name,
                    origin,
                    ALLOWLIST_ENV,
                )
                continue
            try:
                self.register(plugin, name=ep.name)
            except Exception:
                logger.exception(
                    "Error registering pika-core plugin %r (%s); it is skipped.", ep.name, origin
                )
                continue
            if dist is not None:
                self._distributions[ep.name] = _Distribution(dist_name or ep.name, dist.version)
            loaded.append(ep.name)
        if wanted is not None:
            missing = wanted - matched
            if missing:
                logger.warning(
                    "%s names %s, but no installed plugin has that name; installed: %s",
                    ALLOWLIST_ENV,
                    ", ".join(sorted(missing)),
                    ", ".join(sorted(seen)) or "none",
                )
        return loaded

    # -- calling hooks ----------------------------------------------------------------------------

    def implementations(self, hook_name: str) -> list[HookImpl]:
        """The implementations of ``hook_name`` in call order (pluggy's: newest first)."""
        caller = getattr(self.hook, hook_name)
        impls: list[HookImpl] = caller.get_hookimpls()
        impls.reverse()
        return impls

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of ``hook_name`` on its own: [(plugin name, result), ...].

        An implementation that raises is logged with its plugin's name and left out; the others
        still run. Results that are None are left out, as pluggy does.
        """
        results: list[tuple[str, Any]] = []
        for impl in self.implementations(hook_name):
            if self.trace_hooks:
                logger.debug("calling %s of plugin %r", hook_name, impl.plugin_name)
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:  # noqa: BLE001 - policy: one plugin's error never stops another
                report_hook_error(impl.plugin_name, hook_name, "it is skipped", exc)
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    # -- adapters ---------------------------------------------------------------------------------

    def adapters(self) -> dict[str, AdapterSpec]:
        """Every registered adapter by name."""
        return dict(self._adapters().by_name)

    def find_adapter(self, pika_module: str) -> AdapterSpec | None:
        """The adapter serving ``pika_core.adapters.<pika_module>``, or None."""
        return self._adapters().by_module.get(pika_module)

    def adapter_provider(self, adapter_name: str) -> str | None:
        """The name of the plugin that registered the adapter ``adapter_name``."""
        return self._adapters().provider.get(adapter_name)

    def resolve_adapter(self, pika_module: str) -> type:
        """The connection class serving ``pika_core.adapters.<pika_module>``, imported now."""
        return self._require_adapter(pika_module).load_connection_class()

    def adapter_exports(
        self, pika_module: str, connection_name: str | None = None
    ) -> dict[str, object]:
        """Every name ``pika_core.adapters.<pika_module>`` exports, imported now.

        With ``connection_name`` (pika's name, such as ``TornadoConnection``) the connection
        class is exported under that name too, whatever the plugin named its class.
        """
        spec = self._require_adapter(pika_module)
        exports = spec.load_exports()
        if connection_name is not None:
            exports[connection_name] = exports[spec.connection_class_name]
        return exports

    def _require_adapter(self, pika_module: str) -> AdapterSpec:
        spec = self.find_adapter(pika_module)
        if spec is None:
            raise ImportError(
                f"pika_core.adapters.{pika_module} is served by an adapter plugin, and no "
                f"installed plugin serves it: {_install_advice(pika_module)}",
                name=f"pika_core.adapters.{pika_module}",
            )
        return spec

    def _adapters(self) -> _AdapterRegistry:
        registry = self._adapter_registry
        if registry is None:
            registry = self._adapter_registry = self._collect_adapters()
        return registry

    def _collect_adapters(self) -> _AdapterRegistry:
        registry = _AdapterRegistry({}, {}, {})
        # Oldest registration first, so that a later plugin overrides an earlier one.
        for plugin_name, specs in reversed(self.call_each("pika_register_adapters")):
            if isinstance(specs, AdapterSpec) or not isinstance(specs, (list, tuple)):
                logger.error(
                    "plugin %r: pika_register_adapters must return a list of AdapterSpec, "
                    "got %r; its adapters are skipped",
                    plugin_name,
                    specs,
                )
                continue
            for spec in specs:
                if not isinstance(spec, AdapterSpec):
                    logger.error(
                        "plugin %r: pika_register_adapters returned %r, which is not an "
                        "AdapterSpec; it is skipped",
                        plugin_name,
                        spec,
                    )
                    continue
                self._add_adapter(registry, plugin_name, spec)
        return registry

    @staticmethod
    def _add_adapter(registry: _AdapterRegistry, plugin_name: str, spec: AdapterSpec) -> None:
        for clash in (registry.by_name.get(spec.name), registry.by_module.get(spec.pika_module)):
            if clash is None or registry.by_name.get(clash.name) is not clash:
                continue
            logger.warning(
                "adapter %r (pika module %s) of plugin %r replaces adapter %r of plugin %r",
                spec.name,
                spec.pika_module,
                plugin_name,
                clash.name,
                registry.provider[clash.name],
            )
            del registry.by_name[clash.name]
            del registry.provider[clash.name]
            if registry.by_module.get(clash.pika_module) is clash:
                del registry.by_module[clash.pika_module]
        registry.by_name[spec.name] = spec
        registry.by_module[spec.pika_module] = spec
        registry.provider[spec.name] = plugin_name

    # -- listing ----------------------------------------------------------------------------------

    def list_plugins(self) -> list[PluginInfo]:
        """Every registered plugin, in registration order, with version, hooks and adapters."""
        registry = self._adapters()
        infos: list[PluginInfo] = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:  # blocked
                continue
            hooks = tuple(sorted(caller.name for caller in self.get_hookcallers(plugin) or ()))
            provided = tuple(
                sorted(adapter for adapter, owner in registry.provider.items() if owner == name)
            )
            dist = self._distributions.get(name)
            if dist is not None:
                version: str | None = dist.version
                distribution: str | None = dist.name
            elif isinstance(plugin, _BuiltinAdapters):
                version, distribution = __version__, "pika-core"
            else:
                found = getattr(plugin, "__version__", None)
                version, distribution = (found if isinstance(found, str) else None), None
            infos.append(PluginInfo(name, version, distribution, hooks, provided))
        return infos


def report_hook_error(
    plugin_name: str, hook_name: str, consequence: str, error: BaseException
) -> None:
    """Log ``error``, with its traceback, as raised by ``plugin_name`` in ``hook_name``."""
    logger.error(
        "pika-core plugin %r raised in %s; %s", plugin_name, hook_name, consequence, exc_info=error
    )


def _install_advice(pika_module: str) -> str:
    extra = PLUGIN_EXTRAS.get(pika_module)
    if extra is not None:
        advice = f"pip install pika-core[{extra}]"
    else:
        advice = (
            f"install the plugin that provides the {pika_module!r} adapter (see "
            "`python -m pika_core plugins` for what is installed)"
        )
    if not _autoload_enabled():
        advice += f" (plugin autoloading is off: {DISABLE_AUTOLOAD_ENV} is set)"
    return advice


def _normalize(name: str | None) -> str:
    return re.sub(r"[-_.]+", "-", name).lower() if name else ""


def _entry_points(group: str) -> Sequence[Any]:
    return tuple(importlib_metadata.entry_points(group=group))


# -------------------------------------------------------------------------------------------------
# Built-in adapters: a default plugin, registered through the same hook as any other
# -------------------------------------------------------------------------------------------------


class _BuiltinAdapters:
    """The adapters that ship with pika-core, given lazily so nothing is imported until used."""

    @hookimpl
    def pika_register_adapters(self) -> list[AdapterSpec]:
        """The blocking, select and asyncio adapters."""
        return [
            AdapterSpec(
                "blocking",
                "pika_core.adapters.blocking_connection:BlockingConnection",
                "blocking_connection",
                {"BlockingChannel": "pika_core.adapters.blocking_connection:BlockingChannel"},
            ),
            AdapterSpec(
                "select",
                "pika_core.adapters.select_connection:SelectConnection",
                "select_connection",
                {"IOLoop": "pika_core.adapters.select_connection:IOLoop"},
            ),
            AdapterSpec(
                "asyncio",
                "pika_core.adapters.asyncio_connection:AsyncioConnection",
                "asyncio_connection",
            ),
        ]


# -------------------------------------------------------------------------------------------------
# The process-wide manager
# -------------------------------------------------------------------------------------------------

_lock = threading.RLock()
_manager: PikaPluginManager | None = None
_loading: PikaPluginManager | None = None

_TRUE = frozenset({"1", "true", "yes", "on"})


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _autoload_enabled() -> bool:
    return not _env_flag(DISABLE_AUTOLOAD_ENV)


def _allowlist() -> frozenset[str] | None:
    value = os.environ.get(ALLOWLIST_ENV)
    if value is None:
        return None
    return frozenset(item.strip() for item in value.split(",") if item.strip())


def new_plugin_manager(*, builtins: bool = True, trace_hooks: bool = False) -> PikaPluginManager:
    """A fresh manager holding the built-in adapters and nothing else (for tests and embedding)."""
    manager = PikaPluginManager(trace_hooks=trace_hooks)
    if builtins:
        manager.register(_BuiltinAdapters(), name=BUILTIN_PLUGIN_NAME)
    return manager


def get_plugin_manager() -> PikaPluginManager:
    """The process-wide manager; created, and its entry points loaded, on first use."""
    global _manager, _loading
    manager = _manager
    if manager is not None:
        return manager
    with _lock:
        if _manager is not None:
            return _manager
        if _loading is not None:  # a plugin being imported asks for the manager: same thread
            return _loading
        manager = new_plugin_manager(trace_hooks=_env_flag(TRACE_ENV))
        _loading = manager
        try:
            if _autoload_enabled():
                manager.load_entrypoints(_allowlist())
            else:
                logger.debug("plugin autoloading is off (%s is set)", DISABLE_AUTOLOAD_ENV)
        finally:
            _loading = None
        _manager = manager
        return manager


@contextlib.contextmanager
def use_plugin_manager(manager: PikaPluginManager) -> Iterator[PikaPluginManager]:
    """Make ``manager`` the process-wide manager inside the ``with`` block (tests, embedding)."""
    global _manager
    with _lock:
        previous, _manager = _manager, manager
    try:
        yield manager
    finally:
        with _lock:
            _manager = previous


def register(plugin: object, name: str | None = None) -> str | None:
    """Register an in-process plugin with the process-wide manager; return its name."""
    return get_plugin_manager().register(plugin, name)


def unregister(plugin: object | None = None, name: str | None = None) -> Any:
    """Unregister an in-process plugin from the process-wide manager, by object or by name."""
    return get_plugin_manager().unregister(plugin, name)


def list_plugins() -> list[PluginInfo]:
    """Every plugin of the process-wide manager, with version, hooks and adapters."""
    return get_plugin_manager().list_plugins()


def adapters() -> dict[str, AdapterSpec]:
    """Every adapter of the process-wide manager, by name."""
    return get_plugin_manager().adapters()


def resolve_adapter(pika_module: str) -> type:
    """The connection class serving ``pika_core.adapters.<pika_module>``; ImportError if none."""
    return get_plugin_manager().resolve_adapter(pika_module)


def adapter_exports(pika_module: str, connection_name: str | None = None) -> dict[str, object]:
    """The names ``pika_core.adapters.<pika_module>`` exports; ImportError saying what to install."""
    return get_plugin_manager().adapter_exports(pika_module, connection_name)
