"""Float RandAugment and TrivialAugment on the CPU read their nearest warp from the cached framed indices: equal to
the op-by-op reference bit for bit, the input untouched."""

import pytest
import torch

import effl_plugins as ep

CONFIGS = [
    ("rand_augment", {"num_ops": 2, "magnitude": 9}),
    ("rand_augment", {"num_ops": 3, "magnitude": 30, "fill": 0.5}),
    ("rand_augment", {"num_ops": 2, "magnitude": 9, "fill": (0.1, 0.2, 0.3)}),
    ("rand_augment", {"num_ops": 2, "magnitude": 9, "magnitude_std": 1.0}),
    ("trivial_augment", {}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("name, kwargs", CONFIGS)
def test_float_warps_equal_op_by_op(name, kwargs, dtype):
    aug = ep.create_augmentation(name, **kwargs)
    generator = torch.Generator().manual_seed(0)
    for trial in range(6):
        batch, size = [(1, 32), (8, 17), (12, 24)][trial % 3]
        images = torch.rand(batch, 3, size, size, generator=generator).to(dtype)
        before = images.clone()
        out, _ = aug(images, generator=generator)
        assert torch.equal(images, before)
        ops, magnitude, sign = aug._checked(aug.last_params, batch)
        assert torch.equal(out, aug._apply_op_by_op(images, ops, magnitude, sign)), trial


def test_geometry_only_batch_is_a_new_tensor():
    aug = ep.create_augmentation("rand_augment", num_ops=1, magnitude=9, ops=["rotate"])
    images = torch.rand(4, 3, 16, 16)
    out, _ = aug(images, generator=torch.Generator().manual_seed(0))
    assert out.data_ptr() != images.data_ptr()
    ops, magnitude, sign = aug._checked(aug.last_params, 4)
    assert torch.equal(out, aug._apply_op_by_op(images, ops, magnitude, sign))
