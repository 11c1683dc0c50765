"""Built-in augmentations, registered through the ``effl_plugins`` entry point like any plugin."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .affine import Affine, AffineImage
from .brightness import Brightness, BrightnessImage
from .color import Color, ColorImage
from .contrast import Contrast, ContrastImage
from .sharpness import Sharpness, SharpnessImage
from .auto_contrast import AutoContrast, AutoContrastImage
from .histogram import Equalize, EqualizeImage
from .identity import Identity, IdentityImage
from .invert import Invert, InvertImage
from .posterize import Posterize, PosterizeImage
from .solarize import Solarize, SolarizeImage
from .crop import Crop, CropImage
from .flip import Flip, FlipImage, HorizontalFlip, HorizontalFlipImage, VerticalFlip, VerticalFlipImage
from .random_resized_crop import RandomResizedCrop, RandomResizedCropImage
from .rotate import Rotate, RotateImage
from .shear import Shear, ShearImage
from .translate import Translate, TranslateImage
from .cutmix import CutMix
from .mixup import MixUp
from .rand_augment import RandAugment, RandAugmentImage
from .trivial_augment import TrivialAugment, TrivialAugmentImage
from .compose import Compose, ComposeImage


@hookimpl
def register_augmentations(register):
    register("brightness", Brightness, backend="batch")
    register("brightness", BrightnessImage, backend="image")
    register("color", Color, backend="batch")
    register("color", ColorImage, backend="image")
    register("contrast", Contrast, backend="batch")
    register("contrast", ContrastImage, backend="image")
    register("sharpness", Sharpness, backend="batch")
    register("sharpness", SharpnessImage, backend="image")
    register("auto_contrast", AutoContrast, backend="batch")
    register("auto_contrast", AutoContrastImage, backend="image")
    register("equalize", Equalize, backend="batch")
    register("equalize", EqualizeImage, backend="image")
    register("identity", Identity, backend="batch")
    register("identity", IdentityImage, backend="image")
    register("invert", Invert, backend="batch")
    register("invert", InvertImage, backend="image")
    register("posterize", Posterize, backend="batch")
    register("posterize", PosterizeImage, backend="image")
    register("solarize", Solarize, backend="batch")
    register("solarize", SolarizeImage, backend="image")
    register("flip", Flip, backend="batch")
    register("flip", FlipImage, backend="image")
    register("hflip", HorizontalFlip, backend="batch")
    register("hflip", HorizontalFlipImage, backend="image")
    register("vflip", VerticalFlip, backend="batch")
    register("vflip", VerticalFlipImage, backend="image")
    register("affine", Affine, backend="batch")
    register("affine", AffineImage, backend="image")
    register("crop", Crop, backend="batch")
    register("crop", CropImage, backend="image")
    register("random_resized_crop", RandomResizedCrop, backend="batch")
    register("random_resized_crop", RandomResizedCropImage, backend="image")
    register("rotate", Rotate, backend="batch")
    register("rotate", RotateImage, backend="image")
    register("shear", Shear, backend="batch")
    register("shear", ShearImage, backend="image")
    register("translate", Translate, backend="batch")
    register("translate", TranslateImage, backend="image")
    register("cutmix", CutMix, backend="batch")
    register("mixup", MixUp, backend="batch")
    register("rand_augment", RandAugment, backend="batch")
    register("rand_augment", RandAugmentImage, backend="image")
    register("trivial_augment", TrivialAugment, backend="batch")
    register("trivial_augment", TrivialAugmentImage, backend="image")
    register("compose", Compose, backend="batch")
    register("compose", ComposeImage, backend="image")
