"""cutmix: per-sample boxes, label weights equal to the pasted area, timm's Mixup reproduced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep


def _id_images(batch: int, height: int, width: int) -> torch.Tensor:
    """Sample i is filled with the value i, so every output pixel names the sample it came from."""
    return torch.arange(batch, dtype=torch.uint8).view(batch, 1, 1, 1).expand(batch, 3, height, width).contiguous()


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 8),
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    alpha=st.floats(0.05, 5.0),
    per_batch=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_label_weight_equals_pasted_area(batch, height, width, alpha, per_batch, seed):
    aug = ep.create_augmentation("cutmix", alpha=alpha, num_classes=batch, per_batch=per_batch)
    images = _id_images(batch, height, width)
    out, soft = aug(images, torch.arange(batch), generator=torch.Generator().manual_seed(seed))
    # the histogram of source ids in each output image is exactly its soft target
    sources = out[:, 0].reshape(batch, -1).long()
    counts = torch.zeros(batch, batch, dtype=torch.float64).scatter_add_(
        1, sources, torch.ones_like(sources, dtype=torch.float64)
    )
    torch.testing.assert_close(soft.double(), counts / (height * width), atol=1e-6, rtol=0)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    box = aug.last_params["box"]
    assert ((box[:, 0] <= box[:, 1]) & (box[:, 1] <= height) & (box[:, 2] <= box[:, 3]) & (box[:, 3] <= width)).all()
    if per_batch:
        assert (box == box[0]).all()


def test_boxes_differ_per_sample_and_seed_reproduces():
    aug = ep.create_augmentation("cutmix", num_classes=4)
    x = _id_images(16, 32, 32)
    targets = torch.arange(16) % 4
    y1, t1 = aug(x, targets, generator=torch.Generator().manual_seed(3))
    box = aug.last_params["box"]
    assert len({tuple(b.tolist()) for b in box}) > 8
    y2, t2 = aug(x, targets, generator=torch.Generator().manual_seed(3))
    assert torch.equal(y1, y2) and torch.equal(t1, t2)
    y3, t3 = aug(x, targets, params=aug.last_params)
    assert torch.equal(y1, y3) and torch.equal(t1, t3)


def test_probability_zero_leaves_images_and_one_hot_targets():
    aug = ep.create_augmentation("cutmix", num_classes=5, p=0.0)
    x = _id_images(6, 10, 10)
    y, t = aug(x, torch.tensor([0, 1, 2, 3, 4, 0]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, y)
    assert torch.equal(t, torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 4, 0]), 5).float())


def test_soft_targets_and_label_smoothing():
    aug = ep.create_augmentation("cutmix", label_smoothing=0.1)
    soft = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    params = {"permutation": torch.tensor([1, 0]), "box": torch.tensor([[0, 2, 0, 4], [0, 0, 0, 0]])}
    _, t = aug(_id_images(2, 4, 4), soft, params=params)
    smoothed = soft * 0.9 + 0.05
    torch.testing.assert_close(t, torch.stack([smoothed[0] * 0.5 + smoothed[1] * 0.5, smoothed[1]]))


def _timm_run(mode: str, x: torch.Tensor, targets: torch.Tensor, monkeypatch, seed: int):
    """Run timm's Mixup (CutMix only) under a seed and record the boxes and λ it drew."""
    import timm.data.mixup as timm_mixup

    boxes, original = [], timm_mixup.cutmix_bbox_and_lam

    def recording(*args, **kwargs):
        (yl, yh, xl, xh), lam = original(*args, **kwargs)
        boxes.append([int(yl), int(yh), int(xl), int(xh)])
        return (yl, yh, xl, xh), lam

    monkeypatch.setattr(timm_mixup, "cutmix_bbox_and_lam", recording)
    mixer = timm_mixup.Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode=mode, label_smoothing=0.1, num_classes=10)
    np.random.seed(seed)
    out, soft = mixer(x.clone(), targets)
    return out, soft, boxes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_box_as_timm_per_batch_gives_same_images_and_targets(monkeypatch, seed):
    g = torch.Generator().manual_seed(seed)
    x, targets = torch.rand(8, 3, 20, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
    expected, expected_soft, boxes = _timm_run("batch", x, targets, monkeypatch, seed)
    assert len(boxes) == 1
    aug = ep.create_augmentation("cutmix", num_classes=10, label_smoothing=0.1, per_batch=True)
    params = {"permutation": torch.arange(8).flip(0), "box": torch.tensor(boxes).expand(8, 4)}
    out, soft = aug(x, targets, params=params)
    assert torch.equal(out, expected)
    assert torch.equal(soft, expected_soft)


def test_same_boxes_as_timm_per_element(monkeypatch):
    g = torch.Generator().manual_seed(5)
    x, targets = torch.rand(6, 3, 16, 16, generator=g), torch.randint(0, 10, (6,), generator=g)
    expected, expected_soft, boxes = _timm_run("elem", x, targets, monkeypatch, 5)
    aug = ep.create_augmentation("cutmix", num_classes=10, label_smoothing=0.1)
    out, soft = aug(x, targets, params={"permutation": torch.arange(6).flip(0), "box": torch.tensor(boxes)})
    assert torch.equal(out, expected)
    # timm keeps its per-element λ in float32 before forming 1 - λ: one float32 rounding apart
    torch.testing.assert_close(soft, expected_soft, atol=1e-7, rtol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": -1}, "alpha"),
        ({"num_classes": 0}, "num_classes"),
        ({"p": 2}, "probability"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_augmentation("cutmix", **kwargs)


def test_bad_targets():
    x = _id_images(4, 8, 8)
    with pytest.raises(ValueError, match="num_classes"):
        ep.create_augmentation("cutmix")(x, torch.arange(4))
    aug = ep.create_augmentation("cutmix", num_classes=4)
    with pytest.raises(ValueError, match="4 images.*shape \\(3,\\)"):
        aug(x, torch.arange(3))
    with pytest.raises(ValueError, match="needs targets"):
        aug(x)
    with pytest.raises(ValueError, match=r"class ids in \[0, 4\)"):
        aug(x, torch.tensor([0, 1, 2, 7]))
    with pytest.raises(ValueError, match="4-D"):
        aug(x[0], torch.arange(4))
