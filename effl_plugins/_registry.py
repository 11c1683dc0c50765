"""Typed registries, one per component family: register, get, list with fnmatch filters."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _import_string
from .errors import DuplicateComponentError, PluginLoadError, UnknownComponentError, singular

__all__ = ["Component", "Registry", "FAMILIES", "BACKENDS"]

FAMILIES = ("augmentations", "losses", "strategies")
BACKENDS = ("batch", "image")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Component:
    """One registered factory and where it came from.

    ``target`` is what the plugin passed: the factory itself, or an import string ``"pkg.mod:Attr"``
    that :attr:`factory` imports on first use (and keeps). ``doc`` and ``summary`` read an import
    string's docstring from the source when they can, so that listings import nothing.
    """

    family: str
    name: str
    target: Callable[..., Any] | str
    backend: str | None
    plugin: str
    distribution: str | None
    version: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def lazy(self) -> bool:
        """Whether the factory is named by an import string."""
        return _import_string.is_import_string(self.target)

    @property
    def factory(self) -> Callable[..., Any]:
        """The class or function that builds the component (an import string is imported now, once).

        Raises PluginLoadError naming the plugin and the string when it does not import, names no
        attribute or names something not callable.
        """
        if not self.lazy:
            return self.target  # type: ignore[return-value]
        if "factory" not in self._cache:
            try:
                self._cache["factory"] = _import_string.resolve(self.target)  # type: ignore[arg-type]
            except (ImportError, AttributeError, TypeError) as exc:
                cause = type(exc)(f"{singular(self.family)} {self.name!r}: {exc}")  # same type, component named
                raise PluginLoadError(self.plugin, self.distribution, cause) from exc
        return self._cache["factory"]

    @property
    def qualified_name(self) -> str:
        """``"module.QualName"`` of the factory (for an import string: from the string, importing nothing)."""
        if self.lazy:
            return _import_string.qualified_name(self.target)  # type: ignore[arg-type]
        target = self.target
        return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"

    @property
    def doc(self) -> str:
        if "doc" not in self._cache:
            raw = _import_string.docstring(self.target) if self.lazy else None  # type: ignore[arg-type]
            self._cache["doc"] = inspect.cleandoc(raw if raw is not None else (self.factory.__doc__ or ""))
        return self._cache["doc"]

    @property
    def summary(self) -> str:
        return self.doc.split("\n\n")[0].replace("\n", " ") if self.doc else ""


def _as_list(patterns: str | Sequence[str] | None) -> list[str]:
    if patterns is None:
        return []
    return [patterns] if isinstance(patterns, str) else list(patterns)


class Registry:
    """The components of one family, keyed by (name, backend).

    Augmentations carry a backend ("batch" or "image"); losses and strategies carry None.
    """

    def __init__(self, family: str):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        self.family = family
        self.has_backends = family == "augmentations"
        self._components: dict[tuple[str, str | None], Component] = {}

    def validate(self, name: Any, factory: Any, backend: Any, plugin: str) -> str | None:
        """Check one ``register(...)`` call; returns the normalised backend."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"plugin {plugin!r}: component name must be a non-empty lower-case identifier "
                f"(letters, digits, '_', starting with a letter), got {name!r}"
            )
        if isinstance(factory, str):
            try:
                _import_string.check_import_string(factory)
            except ValueError as exc:
                raise ValueError(f"plugin {plugin!r}: factory for {singular(self.family)} {name!r}: {exc}") from None
        elif not callable(factory):
            raise TypeError(
                f"plugin {plugin!r}: factory for {singular(self.family)} {name!r} must be callable "
                f"(a class or function, or an import string 'package.module:Attr'), "
                f"got {type(factory).__name__} {factory!r}"
            )
        if not self.has_backends:
            if backend is not None:
                raise ValueError(
                    f"plugin {plugin!r}: {self.family} take no backend, got backend={backend!r} for {name!r}"
                )
            return None
        backend = "batch" if backend is None else backend
        if backend not in BACKENDS:
            raise ValueError(f"plugin {plugin!r}: backend for {name!r} must be one of {BACKENDS}, got {backend!r}")
        return backend

    def registrations(
        self, name: Any, factory: Any, backend: Any, plugin: str, *, batch: Any = None, image: Any = None
    ) -> list[tuple[Callable[..., Any] | str, str | None]]:
        """Check one ``register(...)`` call, in either form (see ``hookspecs.register_augmentations``);
        returns its ``(factory, backend)`` pairs. Everything is checked before anything is returned, so a
        bad call registers nothing; an import string factory is checked for its form only.
        """
        if batch is None and image is None:
            if factory is None:
                raise TypeError(
                    f"plugin {plugin!r}: register({name!r}) needs a factory: register(name, factory)"
                    + (" or register(name, batch=..., image=...)" if self.has_backends else "")
                )
            return [(factory, self.validate(name, factory, backend, plugin))]
        if not self.has_backends:
            raise ValueError(
                f"plugin {plugin!r}: {self.family} take no backend, got batch=/image= for {name!r}; "
                f"use register({name!r}, factory)"
            )
        if backend is not None:
            raise ValueError(f"plugin {plugin!r}: {name!r}: pass backend= with one factory or batch=/image=, not both")
        if factory is not None:
            raise ValueError(
                f"plugin {plugin!r}: {name!r}: a positional factory and batch=/image= together are "
                f"ambiguous; use register({name!r}, batch=..., image=...)"
            )
        pairs = [(f, b) for f, b in ((batch, "batch"), (image, "image")) if f is not None]
        return [(f, self.validate(name, f, b, plugin)) for f, b in pairs]

    def add(self, component: Component) -> None:
        """Add a component; raises DuplicateComponentError if its (name, backend) is taken."""
        key = (component.name, component.backend)
        if key in self._components:
            raise DuplicateComponentError(self._components[key], component)
        self._components[key] = component

    def remove_plugin(self, plugin: str) -> None:
        self._components = {k: c for k, c in self._components.items() if c.plugin != plugin}

    def _check_backend(self, backend: str | None) -> None:
        if backend is None:
            return
        if not self.has_backends:
            raise ValueError(f"backend is only meaningful for augmentations; {self.family} take none, got {backend!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} or None, got {backend!r}")

    def get(self, name: str, backend: str | None = None) -> Component:
        """The component registered as ``name`` (for augmentations: with ``backend``, default "batch")."""
        self._check_backend(backend)
        if self.has_backends and backend is None:
            backend = "batch"
        try:
            return self._components[(name, backend)]
        except (KeyError, TypeError):
            names = self.names()
            suggestions = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
            if name in names:  # exists with another backend
                suggestions = [f"{name} (backends: {', '.join(self.backends(name))})"]
            raise UnknownComponentError(self.family, str(name), backend, suggestions, names) from None

    def backends(self, name: str) -> list[str]:
        return sorted(b for (n, b) in self._components if n == name and b is not None)

    def names(self) -> list[str]:
        return sorted({n for (n, _) in self._components})

    def components(self) -> Iterable[Component]:
        return list(self._components.values())

    def list(
        self,
        filter: str | Sequence[str] = "*",
        exclude_filters: str | Sequence[str] | None = None,
        backend: str | None = None,
    ) -> list[str]:
        """Sorted names matching any of ``filter`` and none of ``exclude_filters`` (fnmatch patterns)."""
        self._check_backend(backend)
        include, exclude = _as_list(filter) or ["*"], _as_list(exclude_filters)
        names = {n for (n, b) in self._components if backend is None or b == backend}
        keep = {n for n in names if any(fnmatch.fnmatchcase(n, p) for p in include)}
        keep -= {n for n in keep if any(fnmatch.fnmatchcase(n, p) for p in exclude)}
        return sorted(keep)
