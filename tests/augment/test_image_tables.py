"""The image backend's equalize and auto_contrast tables and their application equal the plain formulas (PIL's
equalization table per channel in int64, the float32 auto-contrast map, ``table[pixel]`` indexing) on random
images: small and large (both ways of applying per-channel tables), 1 to 5 channels, narrow, constant and
full ranges."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from effl_plugins.augment.auto_contrast import AutoContrast
from effl_plugins.augment.equalize import Equalize
from effl_plugins.augment.functional.histogram import channel_histograms_image, luts_from_histograms
from effl_plugins.augment.functional.lut import apply_lut_image


def _planes(img):
    return img.reshape(img.shape[0], img.shape[1], -1)


def _equalize_reference(img):
    planes = _planes(img)
    out = np.empty_like(planes)
    for c in range(planes.shape[2]):
        values = planes[..., c]
        hist = np.bincount(values.ravel(), minlength=256).astype(np.int64)
        last = int(np.flatnonzero(hist)[-1]) if hist.any() else 255
        step = (int(hist.sum()) - int(hist[last])) // 255
        if step == 0:
            out[..., c] = values
            continue
        cumulative = np.cumsum(hist)
        lut = np.zeros(256, dtype=np.int64)
        lut[1:] = np.clip((cumulative[:-1] + step // 2) // step, 0, 255)
        out[..., c] = lut.astype(np.uint8)[values]
    return out.reshape(img.shape)


def _auto_contrast_reference(img):
    planes = _planes(img)
    out = np.empty_like(planes)
    ramp = np.arange(256, dtype=np.float32)
    for c in range(planes.shape[2]):
        values = planes[..., c]
        low, high = np.float32(values.min()), np.float32(values.max())
        if high == low:
            low, inv_scale = np.float32(0), np.float32(1)
        else:
            inv_scale = (high - low) * np.float32(1.0 / 255)
        out[..., c] = np.clip((ramp - low) / inv_scale, 0, 255).astype(np.uint8)[values]
    return out.reshape(img.shape)


@st.composite
def _images(draw):
    height = draw(st.integers(1, 120))
    width = draw(st.integers(1, 120))
    channels = draw(st.sampled_from([0, 1, 2, 3, 4, 5]))
    shape = (height, width) if channels == 0 else (height, width, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low = draw(st.integers(0, 255))
    high = draw(st.integers(low, 255))
    img = rng.integers(low, high + 1, shape, dtype=np.uint8)
    if channels and draw(st.booleans()):  # one constant channel
        img[..., draw(st.integers(0, channels - 1))] = draw(st.integers(0, 255))
    return img


@pytest.mark.parametrize(
    "op, reference",
    [(Equalize, _equalize_reference), (AutoContrast, _auto_contrast_reference)],
    ids=["equalize: PIL's table per channel", "auto_contrast: the float32 map"],
)
@settings(max_examples=150, deadline=None)
@given(img=_images())
def test_image_tables_equal_the_plain_formulas(op, reference, img):
    out = op(p=1.0, backend="image").transform_image(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, reference(img))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=256, max_size=256), st.integers(0, 255), st.integers(0, 255))
def test_equalize_tables_equal_the_formula_on_any_histogram(counts, empty_from, spike):
    hist = np.array(counts, dtype=np.int64)
    hist[empty_from:] = 0
    hist[spike] += 10_000
    hists = np.stack([hist, np.roll(hist, 7), np.zeros(256, dtype=np.int64)])
    ramp = np.arange(256, dtype=np.uint8)
    for row, table in zip(hists, luts_from_histograms(hists)):
        last = int(np.flatnonzero(row)[-1]) if row.any() else 255
        step = (int(row.sum()) - int(row[last])) // 255
        if step == 0:
            np.testing.assert_array_equal(table, ramp)
            continue
        expected = np.zeros(256, dtype=np.int64)
        expected[1:] = np.clip((np.cumsum(row)[:-1] + step // 2) // step, 0, 255)
        np.testing.assert_array_equal(table, expected.astype(np.uint8))


@settings(max_examples=100, deadline=None)
@given(_images(), st.integers(0, 2**32 - 1), st.booleans())
def test_apply_lut_image_indexes_each_channels_table(img, seed, same):
    rng = np.random.default_rng(seed)
    planes = _planes(img)
    luts = rng.integers(0, 256, (planes.shape[2], 256), dtype=np.uint8)
    if same:
        luts[:] = luts[0]
    expected = np.stack([luts[c][planes[..., c]] for c in range(planes.shape[2])], axis=-1).reshape(img.shape)
    np.testing.assert_array_equal(apply_lut_image(img, luts), expected)
    np.testing.assert_array_equal(channel_histograms_image(img)[0], np.bincount(planes[..., 0].ravel(), minlength=256))
