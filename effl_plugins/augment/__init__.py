"""Augmentations: batched per-sample torch kernels (``backend="batch"``) and per-image
OpenCV/NumPy kernels (``backend="image"``). Build them with ``effl_plugins.create_augmentation``.

For writing an op: ``Augmentation`` (one class with a kernel per input type, its backend chosen at creation;
``image_backend(cls)`` names its image form ``<Class>Image``), the two one-backend base classes, and the sampling
helpers of a batch op's ``sample_params`` (``uniform``, ``bernoulli``; see :mod:`.base`)."""

from .base import (
    Augmentation,
    BatchAugmentation,
    ImageAugmentation,
    bernoulli,
    check_image,
    check_images,
    dtype_max,
    image_backend,
    uniform,
)

__all__ = [
    "Augmentation",
    "BatchAugmentation",
    "ImageAugmentation",
    "check_image",
    "check_images",
    "uniform",
    "bernoulli",
    "dtype_max",
    "image_backend",
]
