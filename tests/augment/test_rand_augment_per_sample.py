"""The sample-by-sample form of RandAugment and TrivialAugment on small uint8 CPU batches equals the table chain
bit for bit, and leaves its input untouched."""

import pytest
import torch

import effl_plugins as ep
from effl_plugins.augment.auto import rand_augment
from effl_plugins.testing import sample_batch

CONFIGS = [
    ("rand_augment", {"num_ops": 2, "magnitude": 9}),
    ("rand_augment", {"num_ops": 3, "magnitude": 15, "fill": 128}),
    ("rand_augment", {"num_ops": 2, "magnitude": 9, "magnitude_std": 0.5}),
    ("rand_augment", {"num_ops": 2, "magnitude": 30, "interpolation": "bilinear", "fill": 10}),
    ("rand_augment", {"num_ops": 7, "magnitude": 20}),
    ("trivial_augment", {}),
    ("trivial_augment", {"wide": False, "fill": (10, 20, 30)}),
]


def _batches(channels: int):
    generator = torch.Generator().manual_seed(channels)
    photos = sample_batch(torch.uint8, batch=8, size=24, seed=5)[:, :channels]
    for batch in (1, 2, 5, 8):
        yield photos[:batch]
        yield torch.randint(0, 256, (batch, channels, 17, 23), dtype=torch.uint8, generator=generator)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name, kwargs", CONFIGS)
def test_per_sample_equals_the_table_chain(name, kwargs, channels):
    if channels == 1 and isinstance(kwargs.get("fill"), tuple):
        pytest.skip("a fill per channel needs three channels")
    aug = ep.create_augmentation(name, **kwargs)
    generator = torch.Generator().manual_seed(7)
    for trial in range(3):
        for images in _batches(channels):
            before = images.clone()
            out, _ = aug(images, generator=generator)
            assert torch.equal(images, before)
            ops, magnitude, sign = aug._checked(aug.last_params, len(images))
            assert torch.equal(out, aug._apply_lut_chain(images, ops, magnitude, sign)), (trial, images.shape)
            replayed, _ = aug(images, params=aug.last_params)
            assert torch.equal(out, replayed)


def test_every_op_pair_equals_the_table_chain():
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=13)
    images = sample_batch(torch.uint8, batch=4, size=19, seed=2)
    count = len(aug.op_names)
    sign = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    magnitude = torch.full((4, 2), 13 / 30)
    for first in range(count):
        for second in range(count):
            ops = torch.tensor([[first, second]] * 4)
            expected = aug._apply_lut_chain(images, ops, magnitude, sign)
            assert torch.equal(aug._apply_per_sample(images, ops, magnitude, sign), expected), (first, second)


def test_non_contiguous_input():
    aug = ep.create_augmentation("rand_augment", num_ops=3, magnitude=9)
    images = sample_batch(torch.uint8, batch=6, size=20, seed=4).permute(0, 1, 3, 2)
    out, _ = aug(images, generator=torch.Generator().manual_seed(0))
    ops, magnitude, sign = aug._checked(aug.last_params, len(images))
    assert out.is_contiguous()
    assert torch.equal(out, aug._apply_lut_chain(images.contiguous(), ops, magnitude, sign))


def test_which_batches_run_sample_by_sample():
    small = torch.zeros(rand_augment._PER_SAMPLE_BATCH, 3, 32, 32, dtype=torch.uint8)
    assert rand_augment._per_sample_serves(small)
    assert not rand_augment._per_sample_serves(torch.zeros(len(small) + 1, 3, 32, 32, dtype=torch.uint8))
    assert not rand_augment._per_sample_serves(torch.zeros(16, 3, 224, 224, dtype=torch.uint8))


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (3, 3, 1, 3), (2, 1, 1, 1), (3, 3, 2, 5)])
def test_tiny_images_equal_the_table_chain(shape):
    aug = ep.create_augmentation("rand_augment", num_ops=3, magnitude=9)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    for seed in range(20):
        out, _ = aug(images, generator=torch.Generator().manual_seed(seed))
        ops, magnitude, sign = aug._checked(aug.last_params, len(images))
        assert torch.equal(out, aug._apply_lut_chain(images, ops, magnitude, sign)), seed


def test_the_framed_source_is_made_once_per_shape_and_fill_and_handed_out_as_a_copy(monkeypatch):
    made, real = [], rand_augment.fill_tensor
    monkeypatch.setattr(rand_augment, "fill_tensor", lambda *a: made.append(a[0]) or real(*a))
    aug = ep.create_augmentation("rand_augment", fill=(10, 20, 30))
    images = torch.zeros(2, 3, 5, 6, dtype=torch.uint8)
    first = aug._framed_source(images)
    first[:, 1:-1, 1:-1] = 255  # a sample's pixels written into its copy
    second = aug._framed_source(images)
    assert made == [(10, 20, 30)] and second.shape == (3, 7, 8) and second.flags.writeable
    assert [set(second[c].ravel().tolist()) for c in range(3)] == [{10}, {20}, {30}]
    aug.fill = (1, 2, 3)  # another fill: its own source
    assert set(aug._framed_source(images)[2].ravel().tolist()) == {3} and made == [(10, 20, 30), (1, 2, 3)]
    aug._framed_source(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))  # another shape
    assert len(made) == 3
