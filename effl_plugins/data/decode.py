"""Reading image files: the declared size from the header (no decode), and OpenCV decoding to RGB.

Every path that decodes an image goes through the one declared-size check, ``check_header`` (PIL's lazy
``Image.open``, a few KB), so an image declaring more pixels than a limit is refused before OpenCV
allocates anything: ``read_image_file`` (a regular file), ``decode_checked`` (bytes already read) and the
folder listings (which skip what it refuses). ``decode_image`` is the bare decode; like timm's PIL loader
it ignores the EXIF orientation.
"""

from __future__ import annotations

import os
import warnings
from typing import BinaryIO

import numpy as np

from .._validate import file_kind
from ..errors import EfflError

__all__ = [
    "ImageDecodeError",
    "DataWarning",
    "declared_size",
    "check_header",
    "decode_image",
    "decode_checked",
    "read_image_file",
    "verify_image",
    "regular_file_problem",
    "IMAGE_EXTENSIONS",
    "DEFAULT_MAX_IMAGE_PIXELS",
]

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


def check_header(
    file: str | os.PathLike | BinaryIO, path: str, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS
) -> tuple[int, int]:
    """The one declared-size check: ``(width, height)`` from ``file``'s header, without decoding.

    Raises:
        ImageDecodeError: naming ``path``, when the header is unreadable or declares more than
            ``max_image_pixels`` pixels (None: no limit).
    """
    w, h = declared_size(file)
    if max_image_pixels is not None and w * h > max_image_pixels:
        raise ImageDecodeError(path, f"declares {w}x{h} = {w * h} pixels, over max_image_pixels={max_image_pixels}")
    return w, h


def regular_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as a file (``"no such file"``, ``"a character device, not a regular
    file"``, ...), or None when it is a regular file. A symlink is judged by what it points to."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file (or a dangling symlink)" if os.path.islink(path) else "no such file"
    except OSError as exc:
        return f"cannot stat ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return f"{file_kind(mode)}, not a regular file"


def _read_file(path: str | os.PathLike, max_image_pixels: int | None) -> np.ndarray:
    """The bytes of the regular file ``path`` after ``check_header``; ``ImageDecodeError`` naming it otherwise."""
    name = str(path)
    problem = regular_file_problem(path)
    if problem is not None:
        raise ImageDecodeError(name, problem)
    try:
        with open(path, "rb") as handle:
            check_header(handle, name, max_image_pixels)
            handle.seek(0)
            return np.frombuffer(handle.read(), dtype=np.uint8)
    except OSError as exc:
        raise ImageDecodeError(name, f"{type(exc).__name__}: {exc.strerror or exc}") from None


def read_image_file(path: str | os.PathLike, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read and decode one image file to ``H x W x 3`` uint8 RGB, after ``check_header``.

    Raises:
        ImageDecodeError: naming ``path``: not a regular file, unreadable, a header over
            ``max_image_pixels`` or unreadable, or bytes OpenCV cannot decode.
    """
    return decode_image(_read_file(path, max_image_pixels), str(path))


def decode_checked(
    data: bytes | np.ndarray, path: str, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS
) -> np.ndarray:
    """``decode_image`` after ``check_header`` on the same bytes (None: no header check)."""
    import io

    if max_image_pixels is not None:
        raw = data if isinstance(data, (bytes, bytearray, memoryview)) else np.ascontiguousarray(data).tobytes()
        check_header(io.BytesIO(raw), path, max_image_pixels)
    return decode_image(data, path)


def verify_image(path: str | os.PathLike, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> str | None:
    """Why image file ``path`` cannot be used (unreadable, over the size limit, truncated, corrupt), or None.

    Decodes the whole file once (at an eighth of its size where the format allows it, which still
    reads every byte), so a truncated JPEG whose header is intact is found before a run depends on it.
    """
    import cv2

    try:
        data = _read_file(path, max_image_pixels)
        img = cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8) if data.size else None
    except ImageDecodeError as exc:
        return exc.reason
    except cv2.error as exc:
        return f"OpenCV: {str(exc).strip()}"
    if img is None:
        return "empty file" if not data.size else "not an image OpenCV can decode (corrupt or truncated)"
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
