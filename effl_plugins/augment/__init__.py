"""Augmentations: batched per-sample torch kernels (``backend="batch"``) and per-image
OpenCV/NumPy kernels (``backend="image"``). Build them with ``effl_plugins.create_augmentation``."""

from .base import BatchAugmentation, ImageAugmentation, check_image, check_images

__all__ = ["BatchAugmentation", "ImageAugmentation", "check_image", "check_images"]
