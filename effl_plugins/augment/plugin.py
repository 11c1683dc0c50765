"""Built-in augmentations, registered through the ``effl_plugins`` entry point like any plugin."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .brightness import Brightness, BrightnessImage


@hookimpl
def register_augmentations(register):
    register("brightness", Brightness, backend="batch")
    register("brightness", BrightnessImage, backend="image")
