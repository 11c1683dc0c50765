"""The functions behind ``effl_plugins``' public surface: list, create, describe, register."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .plugins import PluginInfo, get_manager, reset_manager

__all__ = [
    "list_augmentations",
    "list_losses",
    "list_strategies",
    "create_augmentation",
    "create_loss",
    "create_strategy",
    "component_info",
    "register_plugin",
    "unregister_plugin",
    "plugin_info",
    "reload_plugins",
]

Patterns = str | Sequence[str]


def list_augmentations(
    filter: Patterns = "*", exclude_filters: Patterns | None = None, backend: str | None = None
) -> list[str]:
    """Sorted augmentation names matching the fnmatch ``filter`` and none of ``exclude_filters``;
    ``backend`` ("batch" | "image") keeps those that have that backend."""
    return get_manager().registry("augmentations").list(filter, exclude_filters, backend)


def list_losses(filter: Patterns = "*", exclude_filters: Patterns | None = None) -> list[str]:
    """Sorted loss names matching the fnmatch ``filter`` and none of ``exclude_filters``."""
    return get_manager().registry("losses").list(filter, exclude_filters)


def list_strategies(filter: Patterns = "*", exclude_filters: Patterns | None = None) -> list[str]:
    """Sorted strategy names matching the fnmatch ``filter`` and none of ``exclude_filters``."""
    return get_manager().registry("strategies").list(filter, exclude_filters)


def create_augmentation(name: str, backend: str = "batch", **kwargs: Any):
    """Build augmentation ``name``.

    ``backend="batch"``: an ``nn.Module`` called as ``aug(images, targets=None, *, generator=None)``
    on ``[B, C, H, W]`` uint8 or float tensors, returning ``(images, targets)``.
    ``backend="image"``: a callable ``t(img, rng=None)`` on one ``H x W x C`` uint8 NumPy image.
    Raises ``UnknownComponentError`` (a KeyError) for an unknown name or backend.
    """
    return get_manager().registry("augmentations").get(name, backend).factory(**kwargs)


def create_loss(name: str, **kwargs: Any):
    """Build loss ``name``: an ``nn.Module`` called as
    ``loss(student_logits, teacher_logits=None, targets=None, **features) -> dict[str, Tensor]``."""
    return get_manager().registry("losses").get(name).factory(**kwargs)


def create_strategy(name: str, **kwargs: Any):
    """Build strategy ``name``: an object with ``run(data, *, out_dir=None, device=None, resume=False) -> dict``."""
    return get_manager().registry("strategies").get(name).factory(**kwargs)


def component_info(family: str, name: str) -> dict[str, Any]:
    """Where a component comes from and what it is.

    Keys: ``name``, ``family``, ``backends``, ``plugin``, ``distribution``, ``version``, ``doc``,
    ``summary``, ``factory`` (its import path). For an augmentation with two backends the
    provenance is the batch one's (``providers`` gives each backend's plugin). A factory registered
    as an import string is not imported for this when its docstring can be read from its source.
    """
    registry = get_manager().registry(family)
    backends = registry.backends(name) if registry.has_backends else []
    component = registry.get(name, ("batch" if "batch" in backends else backends[0]) if backends else None)
    return {
        "name": component.name,
        "family": family,
        "backends": backends,
        "plugin": component.plugin,
        "distribution": component.distribution,
        "version": component.version,
        "doc": component.doc,
        "summary": component.summary,
        "factory": component.qualified_name,
        "providers": {b: registry.get(name, b).plugin for b in backends},
    }


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register a plugin object or module at run time (its ``@hookimpl`` functions run now).

    Returns the plugin's name, for ``unregister_plugin``. Raises ``DuplicateComponentError`` if it
    registers a taken (family, name, backend) and ``PluginLoadError`` if its hooks fail.
    """
    return get_manager().register(plugin, name)


def unregister_plugin(name: str) -> None:
    """Remove a plugin and every component it registered."""
    get_manager().unregister(name)


def plugin_info() -> list[PluginInfo]:
    """Every discovered plugin: distribution, version, hooks, components, load error if any."""
    return list(get_manager().infos.values())


def reload_plugins() -> None:
    """Forget all plugins and rediscover the installed ones (reads the environment variables again)."""
    reset_manager()
    get_manager()
