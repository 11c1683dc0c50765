"""Plugin discovery: entry points of group ``effl_plugins``, loaded one at a time with provenance.

Built-ins (this distribution's own entry points) load first, then every other distribution in
name order. A plugin that fails to import or register is reported with a warning naming its
distribution and the error, and every other plugin still loads; ``EFFL_STRICT_PLUGINS=1`` turns
those warnings into errors. ``EFFL_LOAD_PLUGINS=a,b`` loads only the named distributions (``''``:
none but the built-ins).

A plugin cannot take the library down with it: anything it raises while importing or running its
hooks is caught, ``BaseException`` included, so a ``sys.exit()`` in a plugin becomes the warning
naming its distribution. The one exception let through is a real Ctrl-C: a ``KeyboardInterrupt``
is re-raised only when SIGINT arrived while the plugin loaded; one the plugin raises itself is its
failure like any other. A hook implementation whose name matches no hookspec (a misspelled
``register_loss``) is reported the same way: a warning, ``PluginLoadError`` in strict mode.

Nor can it corrupt machine-readable output: whatever plugin code prints while it is imported and
while its hooks run goes to stderr, so ``effl list --format json`` stays valid JSON.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout, suppress
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pluggy

from . import hookspecs
from ._registry import FAMILIES, Component, Registry
from .errors import DuplicateComponentError, EfflWarning, PluginLoadError

__all__ = ["PluginInfo", "PluginManager", "get_manager", "BUILTIN_DISTRIBUTION"]

GROUP = "effl_plugins"
BUILTIN_DISTRIBUTION = "effl-plugins"


def _normalize(dist_name: str | None) -> str:
    return re.sub(r"[-_.]+", "-", dist_name or "").lower()


def _strict() -> bool:
    return os.environ.get("EFFL_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def plugin_output_to_stderr() -> Iterator[None]:
    """Send what plugin code writes to stdout (``print`` and writes to file descriptor 1) to stderr."""
    target = sys.stderr
    if target is None:
        yield
        return
    for stream in (sys.stdout, target):
        with suppress(OSError, ValueError):
            if stream is not None:
                stream.flush()
    saved = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no file descriptors 1 or 2 (an embedded interpreter): sys.stdout alone
        if saved is not None:
            os.close(saved)
        saved = None
    try:
        with redirect_stdout(target):
            yield
    finally:
        with suppress(OSError, ValueError):
            target.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextmanager
def _watch_sigint() -> Iterator[SimpleNamespace]:
    """Yield a watch whose ``arrived`` records a real Ctrl-C while plugin code runs; the handler in place still runs.

    Only the main thread receives signals, and only a callable handler (Python's default raises
    ``KeyboardInterrupt``) can turn SIGINT into an exception; elsewhere nothing is installed and
    ``arrived`` stays False: no ``KeyboardInterrupt`` there can be a real Ctrl-C.
    """
    watch = SimpleNamespace(arrived=False)
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if not callable(previous):
        yield watch
        return

    def handler(signum, frame):
        watch.arrived = True
        previous(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield watch
    finally:
        signal.signal(signal.SIGINT, previous)


def _real_interrupt(exc: BaseException, watch: SimpleNamespace) -> bool:
    return isinstance(exc, KeyboardInterrupt) and watch.arrived


@dataclass
class PluginInfo:
    """What ``effl plugins`` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class PluginManager:
    """A pluggy manager plus the three registries it fills.

    ``load()`` is idempotent and runs on first use of any registry; ``register``/``unregister``
    add or remove a plugin object at run time (tests do this in fixtures) and refill the registries.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.registries = {f: Registry(f) for f in FAMILIES}
        self.infos: dict[str, PluginInfo] = {}
        self._loaded = False
        self._lock = threading.RLock()

    # -- discovery -----------------------------------------------------------------------------
    def _entry_points(self) -> list[tuple[str, str | None, str | None, metadata.EntryPoint]]:
        only = os.environ.get("EFFL_LOAD_PLUGINS")
        allowed = None if only is None else {_normalize(n) for n in only.split(",") if n.strip()}
        found: dict[tuple[str, str], tuple] = {}
        for dist in metadata.distributions():
            dist_name = dist.metadata["Name"] or "?"
            norm = _normalize(dist_name)
            if norm != BUILTIN_DISTRIBUTION and allowed is not None and norm not in allowed:
                continue
            for ep in dist.entry_points:
                if ep.group == GROUP:  # the same dist may appear twice on sys.path: keep the first
                    found.setdefault((norm, ep.name), (ep.name, dist_name, dist.version, ep))
        builtin_first = sorted(found, key=lambda k: (k[0] != BUILTIN_DISTRIBUTION, k[0], k[1]))
        return [found[k] for k in builtin_first]

    def load(self) -> None:
        """Load every installed plugin (once)."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            with plugin_output_to_stderr():
                for ep_name, dist_name, version, ep in self._entry_points():
                    builtin = _normalize(dist_name) == BUILTIN_DISTRIBUTION
                    plugin_name = ep_name if builtin else f"{dist_name}:{ep_name}"
                    with _watch_sigint() as watch:
                        try:
                            module = ep.load()
                        except BaseException as exc:  # noqa: BLE001 - isolation is the point, sys.exit included
                            if _real_interrupt(exc, watch):
                                raise
                            self._failed(PluginInfo(plugin_name, dist_name, version), exc, _strict())
                            continue
                    self._add(module, plugin_name, dist_name, version, _strict())

    def _failed(self, info: PluginInfo, exc: BaseException, strict: bool) -> None:
        error = PluginLoadError(info.name, info.distribution, exc)
        if strict:
            raise error from exc
        info.error = f"{type(exc).__name__}: {exc}"
        self.infos[info.name] = info
        warnings.warn(str(error), EfflWarning, stacklevel=4)

    def _add(self, plugin: Any, name: str, distribution: str | None, version: str | None, strict: bool) -> None:
        """Register ``plugin`` with pluggy, run its hooks and add what they register.

        Non-strict: failures and duplicates become warnings and the plugin keeps what it could add.
        Strict: the first problem raises and the plugin is left out entirely.
        """
        info = PluginInfo(name, distribution, version)
        with _watch_sigint() as watch:
            try:
                self.pm.register(plugin, name=name)
                info.hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [] if c.has_spec())
                self._check_hook_names(plugin, info, strict)
                staged = self._collect(plugin, info)
            except BaseException as exc:  # noqa: BLE001 - isolation is the point, sys.exit included
                if self.pm.has_plugin(name):
                    self.pm.unregister(name=name)
                if _real_interrupt(exc, watch):
                    raise
                info.hooks = []
                self._failed(info, exc, strict)
                return
        self.infos[name] = info
        for component in staged:
            try:
                self.registries[component.family].add(component)
            except DuplicateComponentError as dup:
                if strict:  # the plugin is left out entirely
                    self.unregister(name)
                    raise
                warnings.warn(str(dup), EfflWarning, stacklevel=4)
                continue
            backend = f"[{component.backend}]" if component.backend else ""
            info.components.append(f"{component.family}:{component.name}{backend}")

    def _check_hook_names(self, plugin: Any, info: PluginInfo, strict: bool) -> None:
        """Warn (strict: raise) on this plugin's hook implementations that match no hookspec."""
        specs = sorted(
            name for name, caller in vars(self.pm.hook).items() if not name.startswith("_") and caller.has_spec()
        )
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.has_spec() or all(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin):
                continue
            close = difflib.get_close_matches(caller.name, specs, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problem = (
                f"hook implementation {caller.name!r} matches no effl_plugins hook{hint} "
                f"(hooks: {', '.join(specs)}); it is never called"
            )
            if strict:
                raise pluggy.PluginValidationError(plugin, problem)
            info.error = problem
            warnings.warn(
                f"plugin {info.name!r} from distribution {info.distribution!r}: {problem}", EfflWarning, stacklevel=5
            )

    def _collect(self, plugin: Any, info: PluginInfo) -> list[Component]:
        """Call the plugin's own hookimpls (with keyword arguments) and stage what they register."""
        staged: list[Component] = []
        for family in FAMILIES:
            caller = getattr(self.pm.hook, f"register_{family}")
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                registry = self.registries[family]

                def register(name, factory=None, backend=None, *, batch=None, image=None, _registry=registry):
                    pairs = _registry.registrations(name, factory, backend, info.name, batch=batch, image=image)
                    for one, kind in pairs:
                        staged.append(
                            Component(_registry.family, name, one, kind, info.name, info.distribution, info.version)
                        )

                impl.function(register=register)
        return staged

    # -- run-time registration (tests, notebooks) ----------------------------------------------
    def register(self, plugin: Any, name: str | None = None, distribution: str | None = None) -> str:
        """Register a plugin object or module now; returns its name.

        Errors are raised, not warned: ``PluginLoadError`` if its hooks fail,
        ``DuplicateComponentError`` if it re-registers a taken name (nothing of it is kept).
        """
        self.load()
        name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
        with self._lock:
            if name in self.infos or self.pm.has_plugin(name):
                raise ValueError(
                    f"a plugin named {name!r} is already registered; unregister it first or pick another name"
                )
            self._add(plugin, name, distribution, None, strict=True)
        return name

    def unregister(self, name: str) -> None:
        with self._lock:
            if self.pm.has_plugin(name):
                self.pm.unregister(name=name)
            for registry in self.registries.values():
                registry.remove_plugin(name)
            self.infos.pop(name, None)

    def registry(self, family: str) -> Registry:
        self.load()
        if family not in self.registries:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        return self.registries[family]


_MANAGER: PluginManager | None = None
_MANAGER_LOCK = threading.Lock()


def get_manager() -> PluginManager:
    """The process-wide plugin manager (created and loaded lazily)."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = PluginManager()
        manager = _MANAGER
    try:
        manager.load()
    except BaseException:  # strict mode or Ctrl-C: forget the half-loaded state so the next call retries
        reset_manager()
        raise
    return manager


def reset_manager() -> None:
    """Forget every loaded plugin; the next use rediscovers them (reads the environment again)."""
    global _MANAGER
    with _MANAGER_LOCK:
        _MANAGER = None
