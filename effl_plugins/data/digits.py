"""The embedded default dataset: scikit-learn's 1,797 real 8x8 handwritten digits, upsampled to RGB
(:func:`upsample_digits`) and split, fixed and class-stratified, into ``num_test`` test images,
``num_labeled`` labeled ones (equal per class as far as possible) and the rest unlabeled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import integer

__all__ = ["DigitsSplit", "digits_split", "upsample_digits", "DIGITS_SIZE"]

#: Side of the upsampled digits the transforms start from.
DIGITS_SIZE = 32


@dataclass
class DigitsSplit:
    """Images ``[1797, S, S, 3]`` uint8, targets ``[1797]`` and the sorted indices of each split."""

    images: np.ndarray
    targets: np.ndarray
    labeled: np.ndarray
    test: np.ndarray
    unlabeled: np.ndarray

    @staticmethod
    def ids(indices: np.ndarray) -> list[str]:
        return [f"digits-{i:04d}" for i in indices.tolist()]


def upsample_digits(data: np.ndarray, size: int = DIGITS_SIZE) -> np.ndarray:
    """``[N, 64]`` digits on the 0..16 scale -> ``[N, size, size, 3]`` uint8 (bicubic)."""
    import cv2

    scaled = (data.reshape(-1, 8, 8) * (255.0 / 16.0)).astype(np.float32)
    resized = np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC) for img in scaled])
    gray = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=3)


def digits_split(
    num_labeled: int = 100,
    num_test: int = 360,
    split_seed: int = 0,
    size: int = DIGITS_SIZE,
    labeled_seed: int | None = None,
) -> DigitsSplit:
    """The fixed class-stratified split (``split_seed``) of the upsampled digits.

    ``labeled_seed``: None keeps the split's own labeled images; a seed draws the class-stratified labeled
    images afresh from the non-test images (the test images stay those of ``split_seed``), as the
    semi-supervised benchmarks vary the labeled set with the run's seed."""
    from sklearn.datasets import load_digits as sk_load_digits

    for name, value in (("num_labeled", num_labeled), ("num_test", num_test)):
        integer(value, name, low=10, note="one per class")
    if num_labeled + num_test >= 1797:
        raise ValueError(
            f"num_labeled + num_test must leave unlabeled images out of 1797, got {num_labeled} + {num_test}"
        )
    digits = sk_load_digits()
    target = digits.target
    order = np.random.default_rng(split_seed).permutation(len(target))
    by_class = [order[target[order] == c] for c in range(10)]
    test = np.concatenate([idx[: _share(num_test, c)] for c, idx in enumerate(by_class)])
    rest = [idx[_share(num_test, c) :] for c, idx in enumerate(by_class)]
    if labeled_seed is not None:
        shuffle = np.random.default_rng(labeled_seed)
        rest = [shuffle.permutation(idx) for idx in rest]
    labeled = np.concatenate([idx[: _share(num_labeled, c)] for c, idx in enumerate(rest)])
    unlabeled = np.concatenate([idx[_share(num_labeled, c) :] for c, idx in enumerate(rest)])
    return DigitsSplit(
        upsample_digits(digits.data, size), target.astype(np.int64), np.sort(labeled), np.sort(test), np.sort(unlabeled)
    )


def _share(total: int, cls: int, num_classes: int = 10) -> int:
    """Class ``cls``'s share of ``total`` when split as evenly as possible over the classes."""
    return total // num_classes + (1 if cls < total % num_classes else 0)
