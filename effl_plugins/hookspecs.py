"""The hooks a plugin may implement: one ``register_<family>(register)`` per component family.

A plugin is a module named by an entry point in the ``effl_plugins`` group::

    import effl_plugins as ep

    @ep.hookimpl
    def register_augmentations(register):
        register("my_blur", batch=MyBlur, image=MyBlurImage)   # both backends in one call
        register("my_mix", MyMix, backend="batch")             # or one backend: "batch" (default) | "image"

    @ep.hookimpl
    def register_losses(register):
        register("my_kd", MyKD)
        register("my_dkd", "my_package.dkd:MyDKD")   # an import string: imported when first built

Wherever a factory is passed, an import string ``"package.module:Attr"`` may stand instead: the
component is listed (and its docstring summarised) without importing it, and the string is imported
on first ``create_*`` (``PluginLoadError`` naming the plugin and the string when that fails).

A component whose defaults the conformance checks cannot use declares the arguments to build it
with as a class attribute, ``conformance_kwargs = {...}`` (see :mod:`effl_plugins.testing`).
"""

from __future__ import annotations

import pluggy

__all__ = [
    "hookspec",
    "hookimpl",
    "register_augmentations",
    "register_losses",
    "register_strategies",
    "register_commands",
]

PROJECT = "effl_plugins"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_augmentations(register):
    """Register augmentations: ``register(name, batch=factory, image=factory)`` (either keyword may be
    left out), or one backend at a time with ``register(name, factory, backend="batch")``.

    A "batch" factory builds an ``nn.Module`` called as ``aug(images, targets=None, *, generator=None)``
    on ``[B, C, H, W]`` tensors; an "image" factory builds a callable ``t(img, rng=None)`` on one
    ``H x W x C`` uint8 NumPy image.
    """


@hookspec
def register_losses(register):
    """Register losses: ``register(name, factory)``; the factory builds an ``nn.Module`` called as
    ``loss(student_logits, teacher_logits=None, targets=None, **features)`` returning a dict of
    scalar tensors whose ``"loss"`` entry is the total to backpropagate."""


@hookspec
def register_strategies(register):
    """Register strategies: ``register(name, factory)``; the factory builds an object with
    ``run(data, *, out_dir=None, device=None, resume=False) -> dict`` (see ``effl_plugins.strategies.base``)."""


@hookspec
def register_commands(subparsers):
    """Add ``effl`` subcommands (optional): ``subparsers`` is the ``effl`` parser's
    ``argparse`` subparsers action. Give each command a ``handler(args) -> int``::

        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="world")
        parser.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)

    Called when ``effl`` builds its parser, before any component is loaded: import torch inside the
    handler, not at module level, so that ``effl --help`` stays fast.
    """
