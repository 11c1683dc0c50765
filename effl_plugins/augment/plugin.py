"""Built-in augmentations, registered through the ``effl_plugins`` entry point like any plugin.

Each op is named by an import string (``module:Class``, its image backend ``module:ClassImage``), so that
listing the registry imports no op module (nor OpenCV).
"""

from __future__ import annotations

from ..hookspecs import hookimpl

#: name -> (module under effl_plugins.augment, batch class); the image backend is the class name + "Image"
_BOTH_BACKENDS = {
    "brightness": ("brightness", "Brightness"),
    "color": ("color", "Color"),
    "contrast": ("contrast", "Contrast"),
    "sharpness": ("sharpness", "Sharpness"),
    "auto_contrast": ("auto_contrast", "AutoContrast"),
    "equalize": ("equalize", "Equalize"),
    "identity": ("identity", "Identity"),
    "invert": ("invert", "Invert"),
    "posterize": ("posterize", "Posterize"),
    "solarize": ("solarize", "Solarize"),
    "flip": ("flip", "Flip"),
    "hflip": ("flip", "HorizontalFlip"),
    "vflip": ("flip", "VerticalFlip"),
    "affine": ("affine", "Affine"),
    "crop": ("crop", "Crop"),
    "random_resized_crop": ("random_resized_crop", "RandomResizedCrop"),
    "rotate": ("rotate", "Rotate"),
    "shear": ("shear", "Shear"),
    "translate": ("translate", "Translate"),
    "rand_augment": ("auto.rand_augment", "RandAugment"),
    "trivial_augment": ("auto.trivial_augment", "TrivialAugment"),
    "auto_augment": ("auto.auto_augment", "AutoAugment"),
    "augmix": ("auto.augmix", "AugMix"),
    "random_erasing": ("random_erasing", "RandomErasing"),
    "solarize_add": ("solarize_add", "SolarizeAdd"),
    "gaussian_blur": ("gaussian_blur", "GaussianBlur"),
    "compose": ("compose", "Compose"),
}
#: the ops that mix samples of a batch have the batch backend only
_BATCH_ONLY = {"cutmix": ("cutmix", "CutMix"), "mixup": ("mixup", "MixUp")}


def _target(module: str, cls: str) -> str:
    return f"{__package__}.{module}:{cls}"


@hookimpl
def register_augmentations(register):
    for name, (module, cls) in _BOTH_BACKENDS.items():
        register(name, batch=_target(module, cls), image=_target(module, cls + "Image"))
    for name, (module, cls) in _BATCH_ONLY.items():
        register(name, _target(module, cls), backend="batch")
