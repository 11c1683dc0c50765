"""FixMatch masking, Mean Teacher EMA and consistency arithmetic against float64 references, the weak view."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from effl_plugins.train.tasks import ema_update, fixmatch_unlabeled_loss, sigmoid_rampup, softmax_mse
from effl_plugins.train.tasks.consistency import weak_augment


def _ce(logits, target):
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def test_fixmatch_masks_below_threshold_and_averages_over_all_unlabeled():
    weak = torch.tensor([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 5.0, 0.0], [0.0, 0.0, 3.0]], requires_grad=True)
    strong = torch.tensor([[1.0, 2.0, 0.5], [3.0, 0.0, 0.0], [0.2, 0.1, 0.4], [0.0, 1.0, 2.0]], requires_grad=True)
    # softmax maxima: 0.99991 (keep), 1/3 (drop), e^5/(e^5+2)=0.98670 (keep), e^3/(e^3+2)=0.90944 (drop at 0.95)
    out = fixmatch_unlabeled_loss(weak, strong, threshold=0.95)
    assert out["mask"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert out["pseudo_labels"].tolist() == [0, 0, 1, 2]
    s = strong.detach().double().tolist()
    expected = (_ce(s[0], 0) + _ce(s[2], 1)) / 4
    assert out["loss"].item() == pytest.approx(expected, rel=1e-6)
    out["loss"].backward()
    assert weak.grad is None  # the pseudo-label carries no gradient
    assert strong.grad[1].abs().sum() == 0 and strong.grad[3].abs().sum() == 0 and strong.grad[0].abs().sum() > 0
    lower = fixmatch_unlabeled_loss(weak, strong, threshold=0.9)
    assert lower["mask"].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert fixmatch_unlabeled_loss(weak, strong, threshold=1.0)["loss"].item() == 0.0


def test_fixmatch_rejects_mismatched_logits():
    with pytest.raises(ValueError, match="weak_logits and strong_logits"):
        fixmatch_unlabeled_loss(torch.zeros(3, 4), torch.zeros(3, 5))


def _pair():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    student = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    student[1].running_mean.fill_(0.25)
    return teacher, student


@pytest.mark.parametrize("decay", [0.99, 0.999, 0.0, 1.0])
def test_ema_update_matches_float64_reference(decay):
    teacher, student = _pair()
    t0 = [p.detach().double().clone() for p in teacher.parameters()]
    s0 = [p.detach().double().clone() for p in student.parameters()]
    ema_update(teacher, student, decay)
    for t, a, b in zip(teacher.parameters(), t0, s0):
        expected = (decay * a + (1 - decay) * b).float()
        torch.testing.assert_close(t.detach(), expected, rtol=0, atol=2e-7)
    assert torch.equal(teacher[1].running_mean, student[1].running_mean)
    assert all(torch.equal(a.detach().double(), b) for a, b in zip(student.parameters(), s0))  # student untouched


def test_repeated_ema_updates_converge_geometrically():
    teacher, student = _pair()
    t0 = teacher[0].weight.detach().double().clone()
    s = student[0].weight.detach().double()
    for _ in range(50):
        ema_update(teacher, student, 0.9)
    torch.testing.assert_close(teacher[0].weight.detach().double(), s + 0.9**50 * (t0 - s), rtol=0, atol=1e-6)


def test_ema_decay_outside_0_1_is_rejected():
    with pytest.raises(ValueError, match="decay must be in"):
        ema_update(*_pair(), 1.5)


def test_sigmoid_rampup_values():
    assert sigmoid_rampup(0, 100) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(50, 100) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(100, 100) == 1.0 and sigmoid_rampup(500, 100) == 1.0 and sigmoid_rampup(3, 0) == 1.0


def test_softmax_mse_matches_float64_and_spares_the_teacher():
    g = torch.Generator().manual_seed(3)
    s = torch.randn(5, 4, generator=g, requires_grad=True)
    t = torch.randn(5, 4, generator=g, requires_grad=True)
    expected = ((s.double().softmax(1) - t.double().softmax(1)) ** 2).mean()
    loss = softmax_mse(s, t)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert t.grad is None and s.grad is not None


def test_weak_augment_per_sample_crops_of_the_padded_image_and_no_in_place_edit():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 8, 8), generator=g, dtype=torch.uint8)
    before = images.clone()
    out = weak_augment(images, torch.Generator().manual_seed(1), flip=True, max_shift=0.25)
    assert out.dtype == torch.uint8 and out.shape == images.shape and torch.equal(images, before)

    def crops(img):  # every translation of one (possibly flipped) image by -2..2 pixels, reflect-padded
        padded = torch.nn.functional.pad(img[None].float(), (2, 2, 2, 2), mode="reflect")[0]
        return [padded[:, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]

    for b in range(16):
        candidates = crops(images[b]) + crops(images[b].flip(-1))
        assert any(torch.equal(out[b].float(), c) for c in candidates), b
    differing = {tuple(out[b].flatten()[:8].tolist()) for b in range(16)}
    assert len(differing) > 1
    again = weak_augment(images, torch.Generator().manual_seed(1), flip=True, max_shift=0.25)
    assert torch.equal(out, again)


def test_weak_augment_without_shift_only_flips():
    images = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3).repeat(8, 1, 1, 1)
    out = weak_augment(images, torch.Generator().manual_seed(0), flip=True, max_shift=0.0)
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    assert all(f or torch.equal(o, i) for f, o, i in zip(flipped, out, images)) and 0 < sum(flipped) < 16


def test_weak_augment_refuses_a_shift_of_half_the_side():
    with pytest.raises(ValueError, match="max_shift"):
        weak_augment(torch.zeros(1, 3, 8, 8), max_shift=0.5)


def test_the_strategies_reexport_the_task_functions():
    from effl_plugins.train.tasks import fixmatch, mean_teacher

    assert fixmatch.fixmatch_unlabeled_loss is fixmatch_unlabeled_loss
    assert mean_teacher.ema_update is ema_update and mean_teacher.softmax_mse is softmax_mse
