"""The peers each augmentation is timed against, by op name: the closest op each library offers.

Factories receive ``(height, width)`` and return a callable transform; a library that is not
installed, or has no matching op, simply has no row (the run records a skip).

- torchvision v2: on a ``[B, C, H, W]`` tensor one parameter draw serves the whole batch
  (``per-batch``); called on each image in a loop it gives ``per-sample`` randomness.
- kornia: batched with per-sample parameters, on float images only.
- albumentations: one ``H x W x C`` uint8 image at a time (``per-image``), CPU.
- timm: PIL RandAugment ``rand-m9-n2`` (``per-image``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["TORCHVISION", "KORNIA", "ALBUMENTATIONS", "timm_rand_augment"]

Factory = Callable[[int, int], Any]


def _tv():
    from torchvision.transforms import v2

    return v2


def _k():
    import kornia.augmentation as K

    return K


def _a():
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as A

    return A


def _op(library: Callable[[], Any], name: str, *args: Any, **kwargs: Any) -> Factory:
    """A factory of ``library().name(*args, **kwargs)``, the same whatever the image size (imported when called)."""
    return lambda h, w: getattr(library(), name)(*args, **kwargs)


def _torchvision(name: str, *args: Any, **kwargs: Any) -> Factory:
    return _op(_tv, name, *args, **kwargs)


def _kornia(name: str, *args: Any, **kwargs: Any) -> Factory:
    return _op(_k, name, *args, **kwargs)


def _album(name: str, **kwargs: Any) -> Factory:
    """An albumentations transform applied to every image (``p=1``), as ours and the other peers are."""
    return _op(_a, name, p=1.0, **kwargs)


TORCHVISION: dict[str, Factory] = {
    "brightness": _torchvision("ColorJitter", brightness=0.25),
    "contrast": _torchvision("ColorJitter", contrast=0.5),
    "color": _torchvision("ColorJitter", saturation=0.5),
    "sharpness": _torchvision("RandomAdjustSharpness", sharpness_factor=1.9, p=1.0),
    "solarize": _torchvision("RandomSolarize", threshold=128, p=1.0),
    "posterize": _torchvision("RandomPosterize", bits=4, p=1.0),
    "equalize": _torchvision("RandomEqualize", p=1.0),
    "auto_contrast": _torchvision("RandomAutocontrast", p=1.0),
    "invert": _torchvision("RandomInvert", p=1.0),
    "hflip": _torchvision("RandomHorizontalFlip", p=0.5),
    "vflip": _torchvision("RandomVerticalFlip", p=0.5),
    "flip": _torchvision("RandomHorizontalFlip", p=0.5),
    "rotate": _torchvision("RandomRotation", 30),
    "shear": _torchvision("RandomAffine", degrees=0, shear=(-17, 17, -17, 17)),
    "translate": _torchvision("RandomAffine", degrees=0, translate=(0.2, 0.2)),
    "affine": _torchvision("RandomAffine", degrees=30, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=10),
    "crop": lambda h, w: _tv().RandomCrop((h, w), padding=h // 8),
    "random_resized_crop": lambda h, w: _tv().RandomResizedCrop((h, w), antialias=True),
    "rand_augment": _torchvision("RandAugment", num_ops=2, magnitude=9),
}

KORNIA: dict[str, Factory] = {
    "brightness": _kornia("RandomBrightness", brightness=(0.75, 1.25), p=1.0),
    "contrast": _kornia("RandomContrast", contrast=(0.5, 1.5), p=1.0),
    "color": _kornia("RandomSaturation", saturation=(0.5, 1.5), p=1.0),
    "sharpness": _kornia("RandomSharpness", sharpness=0.9, p=1.0),
    "solarize": _kornia("RandomSolarize", thresholds=0.1, additions=0.0, p=1.0),
    "posterize": _kornia("RandomPosterize", bits=4, p=1.0),
    "equalize": _kornia("RandomEqualize", p=1.0),
    "auto_contrast": _kornia("RandomAutoContrast", p=1.0),
    "invert": _kornia("RandomInvert", p=1.0),
    "hflip": _kornia("RandomHorizontalFlip", p=0.5),
    "vflip": _kornia("RandomVerticalFlip", p=0.5),
    "flip": _kornia("RandomHorizontalFlip", p=0.5),
    "rotate": _kornia("RandomRotation", 30.0, p=1.0),
    "shear": _kornia("RandomShear", (-17.0, 17.0, -17.0, 17.0), p=1.0),
    "translate": _kornia("RandomTranslate", (0.2, 0.2), p=1.0),
    "affine": _kornia("RandomAffine", 30.0, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=10.0, p=1.0),
    "crop": lambda h, w: _k().RandomCrop((h, w), padding=h // 8, p=1.0),
    "random_resized_crop": lambda h, w: _k().RandomResizedCrop((h, w), p=1.0),
    "rand_augment": lambda h, w: __import__("kornia.augmentation.auto", fromlist=["RandAugment"]).RandAugment(n=2, m=9),
}


ALBUMENTATIONS: dict[str, Factory] = {
    "brightness": _album("RandomBrightnessContrast", brightness_limit=0.25, contrast_limit=0.0),
    # ColorJitter's contrast blends with the mean grey level, as ours does; RandomBrightnessContrast's
    # "contrast" only multiplies the values (no mean), a different and cheaper op
    "contrast": _album("ColorJitter", brightness=0.0, contrast=0.5, saturation=0.0, hue=0.0),
    "color": _album("ColorJitter", brightness=0.0, contrast=0.0, saturation=0.5, hue=0.0),
    "sharpness": _album("Sharpen"),
    "solarize": _album("Solarize"),
    "posterize": _album("Posterize", num_bits=4),
    "equalize": _album("Equalize"),
    "auto_contrast": _album("AutoContrast"),
    "invert": _album("InvertImg"),
    "hflip": _album("HorizontalFlip"),
    "vflip": _album("VerticalFlip"),
    "flip": _album("HorizontalFlip"),
    "rotate": _album("Rotate", limit=30, interpolation=0, border_mode=0),
    "shear": _album("Affine", shear=(-17, 17), interpolation=0),
    "translate": _album("Affine", translate_percent=(-0.2, 0.2), interpolation=0),
    "affine": _album(
        "Affine", rotate=(-30, 30), translate_percent=(-0.1, 0.1), scale=(0.8, 1.2), shear=(-10, 10), interpolation=0
    ),
    "crop": lambda h, w: _a().Compose([_a().PadIfNeeded(h + h // 4, w + w // 4, border_mode=0), _a().RandomCrop(h, w)]),
    "random_resized_crop": lambda h, w: _a().RandomResizedCrop(size=(h, w), p=1.0),
}


def timm_rand_augment(magnitude: int = 9, num_ops: int = 2):
    """timm's PIL RandAugment, ``rand-m{M}-n{N}``, with timm's default fill (ImageNet mean)."""
    from timm.data.auto_augment import rand_augment_transform

    return rand_augment_transform(
        f"rand-m{magnitude}-n{num_ops}", {"translate_const": 100, "img_mean": (124, 116, 104)}
    )
