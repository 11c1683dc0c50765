"""Augmentations named by a SPEC string (``--aug``, FixMatch's views, Noisy Student's noise), checked once
(:func:`resolved_augmentation`) where the run's settings are."""

from __future__ import annotations

from typing import Any

__all__ = ["batch_augmentation", "image_augmentation", "resolved_augmentation"]


def _build(spec: Any, backend: str):
    if spec is None or spec == "" or not isinstance(spec, str):
        return spec or None
    from ..augment.spec import build_augmentation

    return build_augmentation(spec, backend=backend)


def batch_augmentation(spec: Any):
    """A batch-backend module from a SPEC string (a built module passes through; None stays None)."""
    return _build(spec, "batch")


def image_augmentation(spec: Any):
    """An image-backend callable (for the loader's workers) from a SPEC string, or None."""
    return _build(spec, "image")


def resolved_augmentation(spec: Any, backend: str = "batch") -> Any:
    """``spec`` checked once for ``backend``: a SPEC string as a ``ResolvedSpec`` (the same text, each term looked
    up and the augmentation built once, so a bad argument is refused now); anything else passes through."""
    if not isinstance(spec, str) or not spec.strip():
        return spec
    from ..augment.spec import ResolvedSpec, resolve_spec

    if isinstance(spec, ResolvedSpec) and spec.backend == backend:
        return spec
    resolved = resolve_spec(spec, backend)
    resolved.build()
    return resolved
