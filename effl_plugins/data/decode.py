"""Reading image files: the declared size from the header (no decode), and OpenCV decoding to RGB.

A file's header is read with PIL's lazy ``Image.open`` (a few KB), so an image that declares more
pixels than a limit is refused before anything is decoded. Decoding uses OpenCV and, like timm's
PIL loader, ignores the EXIF orientation.
"""

from __future__ import annotations

import os
import warnings
from typing import BinaryIO

import numpy as np

from ..errors import EfflError

__all__ = ["ImageDecodeError", "DataWarning", "declared_size", "decode_image", "IMAGE_EXTENSIONS"]

#: File name suffixes (lower case) treated as images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: PIL's default decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``).
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485


class ImageDecodeError(EfflError, ValueError):
    """An image file could not be read or decoded. Carries ``path`` and ``reason``.

    Raised in a DataLoader worker, it reaches the main process rebuilt from its message alone
    (``ImageDecodeError(message)``), which still names the file.
    """

    def __init__(self, path: str, reason: str | None = None):
        self.path, self.reason = path, reason
        super().__init__(path if reason is None else f"cannot decode image file {path!r}: {reason}")


class DataWarning(UserWarning):
    """A dataset problem the run can go on with (an empty class folder, say)."""


def declared_size(file: str | os.PathLike | BinaryIO) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding the pixels.

    PIL's own decompression-bomb check (which refuses to open at twice ``PIL.Image.MAX_IMAGE_PIXELS``)
    is lifted for this one header read, so that the caller sees the declared size and applies its limit.

    Raises:
        ImageDecodeError: the header is not an image PIL recognises.
    """
    from PIL import Image

    name = str(file) if isinstance(file, (str, os.PathLike)) else getattr(file, "name", "<file>")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            bomb_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                with Image.open(file) as img:
                    return img.size
            finally:
                Image.MAX_IMAGE_PIXELS = bomb_limit
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(name, f"unreadable header ({type(exc).__name__}: {exc})") from None


def check_pixels(path: str, size: tuple[int, int], max_image_pixels: int | None) -> str | None:
    """The reason to skip an image of ``size = (w, h)``, or None when it is within ``max_image_pixels``."""
    w, h = size
    if max_image_pixels is not None and w * h > max_image_pixels:
        return f"declares {w}x{h} = {w * h} pixels, over max_image_pixels={max_image_pixels}"
    return None


def decode_image(data: bytes | np.ndarray, path: str) -> np.ndarray:
    """Decode encoded bytes to ``H x W x 3`` uint8 RGB (grey and alpha images converted).

    Raises:
        ImageDecodeError: naming ``path``, when OpenCV cannot decode the bytes.
    """
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) if buf.size else None
    except cv2.error as exc:
        raise ImageDecodeError(path, f"OpenCV: {str(exc).strip()}") from None
    if img is None:
        raise ImageDecodeError(path, "not an image OpenCV can decode" if buf.size else "empty file")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
