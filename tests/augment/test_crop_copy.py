"""crop with ``size=``: boxes of that size at whole-pixel corners are copied as windows of the padded batch,
with exactly the results of resampling them."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.augment import crop as crop_module
from effl_plugins.augment.crop import copy_boxes, resample_boxes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    height=st.integers(1, 19),
    width=st.integers(1, 19),
    box_h=st.integers(1, 12),
    box_w=st.integers(1, 12),
    spill=st.integers(0, 6),
    fill=st.sampled_from([0.0, 127.6, 300.0, -4.0]),
    dtype=st.sampled_from([torch.uint8, torch.float32]),
    channels=st.sampled_from([1, 3]),
)
@pytest.mark.parametrize("window_pixels", [None, 0])  # the indexed copy of small windows, or a copy per sample
def test_copied_windows_equal_resampled_boxes(
    seed, height, width, box_h, box_w, spill, fill, dtype, channels, window_pixels, monkeypatch
):
    with monkeypatch.context() as patch:
        if window_pixels is not None:
            patch.setattr(crop_module, "_INDEXED_WINDOW_PIXELS", window_pixels)
        _check_copied_windows(seed, height, width, box_h, box_w, spill, fill, dtype, channels)


def _check_copied_windows(seed, height, width, box_h, box_w, spill, fill, dtype, channels):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (6, channels, height, width), dtype=torch.uint8, generator=g)
    x = x if dtype == torch.uint8 else x.to(dtype) / 255
    top = torch.randint(-box_h - spill, height + spill + 1, (6,), generator=g).float()
    left = torch.randint(-box_w - spill, width + spill + 1, (6,), generator=g).float()
    boxes = torch.stack([top, left, torch.full((6,), float(box_h)), torch.full((6,), float(box_w))], -1)
    fill = fill if dtype == torch.uint8 else fill / 255
    got = copy_boxes(x, boxes, fill)
    for interpolation in ("nearest", "bilinear"):
        assert torch.equal(got, resample_boxes(x, boxes, (box_h, box_w), interpolation, fill))


def test_boxes_that_are_not_whole_same_size_windows_are_left_to_resampling():
    x = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    assert copy_boxes(x, torch.tensor([[0.5, 0, 4, 4], [0, 0, 4, 4]]), 0) is None  # a fractional corner
    assert copy_boxes(x, torch.tensor([[0.0, 0, 4, 4], [0, 0, 5, 4]]), 0) is None  # two sizes
    assert copy_boxes(x, torch.tensor([[0.0, 0, 0, 4], [0, 0, 0, 4]]), 0) is None  # empty boxes
    assert copy_boxes(x, torch.tensor([[float("nan"), 0, 4, 4], [0, 0, 4, 4]]), 0) is None
    assert copy_boxes(x[:0], torch.zeros(0, 4), 0) is None


@pytest.mark.parametrize("mode", ["random", "center"])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "sliced"])
def test_crop_takes_the_copy_and_equals_the_resampling_path(mode, layout, monkeypatch):
    base = torch.randint(0, 256, (9, 3, 21, 26), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    layouts = {
        "contiguous": base,
        "channels_last": base.contiguous(memory_format=torch.channels_last),
        "sliced": base[..., 2:24],
    }
    x = layouts[layout]
    for size, padding in (((16, 11), 3), ((27, 30), 4), ((21, 22), 0)):
        aug = ep.create_augmentation("crop", size=size, padding=padding, mode=mode, fill=9)
        y, _ = aug(x, generator=torch.Generator().manual_seed(1))
        calls = []
        monkeypatch.setattr(crop_module, "copy_boxes", lambda *args, calls=calls: calls.append(1))  # None: resample
        expected, _ = aug(x, params=aug.last_params)
        monkeypatch.undo()
        assert calls and torch.equal(y, expected) and y.shape == (9, 3, *size)
