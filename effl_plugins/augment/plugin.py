"""Built-in augmentations, registered through the ``effl_plugins`` entry point like any plugin."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .affine import Affine, AffineImage
from .auto.rand_augment import RandAugment, RandAugmentImage
from .auto.trivial_augment import TrivialAugment, TrivialAugmentImage
from .auto_contrast import AutoContrast, AutoContrastImage
from .brightness import Brightness, BrightnessImage
from .color import Color, ColorImage
from .compose import Compose, ComposeImage
from .contrast import Contrast, ContrastImage
from .crop import Crop, CropImage
from .cutmix import CutMix
from .equalize import Equalize, EqualizeImage
from .flip import Flip, FlipImage, HorizontalFlip, HorizontalFlipImage, VerticalFlip, VerticalFlipImage
from .identity import Identity, IdentityImage
from .invert import Invert, InvertImage
from .mixup import MixUp
from .posterize import Posterize, PosterizeImage
from .random_resized_crop import RandomResizedCrop, RandomResizedCropImage
from .rotate import Rotate, RotateImage
from .sharpness import Sharpness, SharpnessImage
from .shear import Shear, ShearImage
from .solarize import Solarize, SolarizeImage
from .translate import Translate, TranslateImage


@hookimpl
def register_augmentations(register):
    # ops with both backends register them in one call; batch-only ops name their one backend
    register("brightness", batch=Brightness, image=BrightnessImage)
    register("color", batch=Color, image=ColorImage)
    register("contrast", batch=Contrast, image=ContrastImage)
    register("sharpness", batch=Sharpness, image=SharpnessImage)
    register("auto_contrast", batch=AutoContrast, image=AutoContrastImage)
    register("equalize", batch=Equalize, image=EqualizeImage)
    register("identity", batch=Identity, image=IdentityImage)
    register("invert", batch=Invert, image=InvertImage)
    register("posterize", batch=Posterize, image=PosterizeImage)
    register("solarize", batch=Solarize, image=SolarizeImage)
    register("flip", batch=Flip, image=FlipImage)
    register("hflip", batch=HorizontalFlip, image=HorizontalFlipImage)
    register("vflip", batch=VerticalFlip, image=VerticalFlipImage)
    register("affine", batch=Affine, image=AffineImage)
    register("crop", batch=Crop, image=CropImage)
    register("random_resized_crop", batch=RandomResizedCrop, image=RandomResizedCropImage)
    register("rotate", batch=Rotate, image=RotateImage)
    register("shear", batch=Shear, image=ShearImage)
    register("translate", batch=Translate, image=TranslateImage)
    register("cutmix", CutMix, backend="batch")
    register("mixup", MixUp, backend="batch")
    register("rand_augment", batch=RandAugment, image=RandAugmentImage)
    register("trivial_augment", batch=TrivialAugment, image=TrivialAugmentImage)
    register("compose", batch=Compose, image=ComposeImage)
