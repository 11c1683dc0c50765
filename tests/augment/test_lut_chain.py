"""The CPU uint8 path of rand_augment / trivial_augment (per-sample lookup tables, framed nearest warp)
gives exactly the op-by-op results; its row, histogram, smoothing and warp kernels equal their references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.augment.auto.op_space import RAND_AUGMENT_OPS
from effl_plugins.augment.functional import matrices
from effl_plugins.augment.functional.histogram import channel_histograms
from effl_plugins.augment.functional.warp import warp_affine
from effl_plugins.augment.kernels.remap import apply_luts_rows, warp_rows_
from effl_plugins.augment.kernels.rows import select_rows, write_rows_
from effl_plugins.augment.sharpness import _smooth_sums


def _both_paths(aug, x, generator):
    y, _ = aug(x, generator=generator)
    ops, magnitude, sign = aug._checked(aug.last_params, len(x))
    return y, aug._apply_op_by_op(x, ops, magnitude, sign)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_ops=st.integers(1, 4),
    magnitude=st.integers(0, 30),
    std=st.sampled_from([0.0, 3.0, math.inf]),
    interpolation=st.sampled_from(["nearest", "bilinear"]),
    fill=st.sampled_from([0, 128.0, (10, 200, 30)]),
    channels=st.sampled_from([1, 3]),
    height=st.integers(3, 24),
    width=st.integers(3, 24),
    narrow=st.booleans(),
)
def test_lut_chain_equals_op_by_op(seed, num_ops, magnitude, std, interpolation, fill, channels, height, width, narrow):
    if channels == 1 and isinstance(fill, tuple):
        fill = 7
    aug = ep.create_augmentation(
        "rand_augment", num_ops=num_ops, magnitude=magnitude, magnitude_std=std, interpolation=interpolation, fill=fill
    )
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (12, channels, height, width), dtype=torch.uint8, generator=g)
    if narrow:  # narrow ranges make auto_contrast and equalize do real work
        x = x // 8 + 90
    original = x.clone()
    y, expected = _both_paths(aug, x, g)
    assert torch.equal(y, expected)
    assert torch.equal(x, original)


@pytest.mark.parametrize("layout", ["channels_last", "sliced", "expanded"])
def test_lut_chain_takes_any_memory_layout(layout):
    aug = ep.create_augmentation("rand_augment", num_ops=3, magnitude=12)
    base = torch.randint(0, 256, (16, 3, 20, 30), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = {
        "channels_last": base.contiguous(memory_format=torch.channels_last),
        "sliced": base[..., 3:27],
        "expanded": base[:1].expand(16, -1, -1, -1),
    }[layout]
    y, expected = _both_paths(aug, x, torch.Generator().manual_seed(1))
    assert torch.equal(y, expected)


@pytest.mark.parametrize("wide", [True, False])
def test_trivial_augment_lut_chain_equals_op_by_op(wide):
    aug = ep.create_augmentation("trivial_augment", wide=wide)
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (96, 3, 17, 13), dtype=torch.uint8, generator=g)
    y, expected = _both_paths(aug, x, g)
    assert torch.equal(y, expected)


@pytest.mark.parametrize("first", RAND_AUGMENT_OPS)
def test_every_op_pair_in_both_orders(first):
    """Each op followed by every op: tables compose, statistics ops see the materialized image."""
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=17)
    rows = [[first, second] for second in RAND_AUGMENT_OPS] + [[second, first] for second in RAND_AUGMENT_OPS]
    ops = torch.tensor([[aug.op_names.index(n) for n in row] for row in rows])
    sign = torch.where(torch.arange(len(rows)) % 2 == 0, 1.0, -1.0)[:, None].expand_as(ops).contiguous()
    params = {"ops": ops, "magnitude": torch.rand(ops.shape, generator=torch.Generator().manual_seed(1)), "sign": sign}
    x = torch.randint(40, 200, (len(rows), 3, 15, 19), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    y, _ = aug(x, params=params)
    assert torch.equal(y, aug._apply_op_by_op(x, ops, params["magnitude"], sign))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bool, torch.int16])
@pytest.mark.parametrize("shape", [(6, 3, 7, 9), (6, 3, 8, 8), (6, 1, 1, 1), (6, 3, 256)])
def test_rows_equal_index_select_and_index_copy(dtype, shape):
    x = (torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 200).to(dtype)
    new = (torch.rand((3,) + shape[1:], generator=torch.Generator().manual_seed(1)) * 200).to(dtype)
    index = torch.tensor([5, 0, 3])
    assert torch.equal(select_rows(x, index), x.index_select(0, index))
    assert torch.equal(write_rows_(x.clone(), index, new), x.clone().index_copy_(0, index, new))


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (43, 3, 4, 4), (3, 1, 9, 2)])
def test_channel_histograms_count_every_value(shape):
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    expected = torch.stack([torch.bincount(row.flatten().long(), minlength=256) for row in x.flatten(0, 1)])
    assert torch.equal(channel_histograms(x).flatten(0, 1), expected)


@pytest.mark.parametrize("size", [(3, 3), (5, 9), (31, 17)])
def test_smooth_sums_equal_the_smooth_kernel(size):
    x = torch.randint(0, 256, (2, 3, *size), generator=torch.Generator().manual_seed(0)).float()
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]]).expand(3, 1, 3, 3)
    assert torch.equal(_smooth_sums(x), F.conv2d(x, kernel, groups=3))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_warp_rows_equals_warp_affine_on_the_chosen_rows(interpolation):
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (9, 3, 13, 11), dtype=torch.uint8, generator=g)
    angle = torch.rand(9, generator=g) * 360 - 180
    shift = torch.rand(9, generator=g) * 40 - 20
    m = matrices.translation(shift, -shift) @ matrices.about(matrices.rotation(angle), 5.0, 6.0)
    m[0] = torch.tensor([[1e9, 0, 0], [0, 1, 0], [0, 0, 1]])  # far outside: the general warp takes over
    index = torch.tensor([0, 2, 3, 5, 8])
    pixels = x.clone()
    warp_rows_(pixels, m, index, interpolation, (1, 2, 3))
    expected = x.clone()
    expected[index] = warp_affine(x[index], m[index], interpolation, (1, 2, 3))
    assert torch.equal(pixels, expected)


@pytest.mark.parametrize("shape", [(9, 3, 13, 11), (4, 1, 5, 7), (3, 2, 0, 4)])
def test_apply_luts_rows_translates_each_chosen_plane_by_its_own_table(shape):
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    luts = torch.randint(0, 256, (*shape[:2], 256), dtype=torch.uint8, generator=g)
    index = torch.arange(0, shape[0], 2)
    pixels = x.clone()
    apply_luts_rows(pixels, luts, index)
    expected = x.clone()
    expected[index] = torch.gather(luts, 2, x.flatten(2).long()).view_as(x)[index]
    assert torch.equal(pixels, expected)
    assert torch.equal(pixels[1::2], x[1::2])  # the other samples are untouched


def test_apply_luts_rows_refuses_a_strided_view():
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="contiguous"):
        apply_luts_rows(x.transpose(2, 3), torch.zeros(2, 3, 256, dtype=torch.uint8), torch.tensor([0]))


def test_lookup_pairs_image_reads_the_table():
    import numpy as np

    from effl_plugins.augment.functional.lut import lookup_pairs_image

    rng = np.random.default_rng(0)
    table = rng.integers(0, 256, (256, 256), dtype=np.uint8)
    rows = rng.integers(0, 256, (7, 9, 3)).astype(np.float32)
    cols = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(lookup_pairs_image(table, rows, cols), table[rows.astype(int), cols])


def test_image_backend_remembered_matrices_give_the_same_images():
    import numpy as np

    names = ("rotate", "shear_x", "translate_y", "color")
    fresh = lambda: ep.create_augmentation("rand_augment", backend="image", num_ops=3, ops=list(names))  # noqa: E731
    aug = fresh()
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    for seed in range(20):
        params = aug.sample_params(img, np.random.default_rng(seed))
        np.testing.assert_array_equal(aug(img, params=params), fresh()(img, params=params))
    assert 0 < len(aug._matrices) <= 20 * 3
