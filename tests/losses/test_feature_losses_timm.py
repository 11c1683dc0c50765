"""The feature losses on real timm backbones: features from ``forward_intermediates`` as the feature
convention in ``losses/base.py`` says, adapters found by the optimizer, the feature term learned."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep

#: loss name -> (constructor arguments, key of its feature term in the result)
FEATURE_LOSSES = {
    "rkd": ({}, "rkd"),
    "pkt": ({}, "pkt"),
    "sp": ({}, "sp"),
    "crd": ({"nce_k": 64, "feat_dim": 16}, "crd"),
    "review_kd": ({"feature_levels": 3}, "review"),
}


def _features(model, x, levels):
    final, maps = model.forward_intermediates(x, indices=levels)
    return model.forward_head(final), (maps if levels > 1 else maps[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", FEATURE_LOSSES)
def test_a_student_learns_the_feature_term_from_a_timm_teacher(name):
    import timm

    torch.manual_seed(0)
    student = timm.create_model("test_resnet", num_classes=10)
    teacher = timm.create_model("test_efficientnet", num_classes=10).eval().requires_grad_(False)
    kwargs, key = FEATURE_LOSSES[name]
    loss = ep.create_loss(name, **kwargs)
    levels = getattr(loss, "feature_levels", 1)
    x, y = torch.randn(8, 3, 32, 32), torch.arange(8) % 10
    with torch.no_grad():
        t_logits, t_features = _features(teacher, x, levels)

    def step():
        s_logits, s_features = _features(student, x, levels)
        return loss(s_logits, t_logits, y, student_features=s_features, teacher_features=t_features)

    first = step()  # builds any lazy adapter, so the optimizer below sees it
    optimizer = torch.optim.Adam([*student.parameters(), *loss.parameters()], lr=1e-3)
    for _ in range(6):
        optimizer.zero_grad()
        out = step()
        out["loss"].backward()
        optimizer.step()
    last = step()
    assert all(torch.isfinite(v) for v in last.values())
    assert last[key] < first[key], (first[key], last[key])
    assert all(p.grad is None for p in teacher.parameters())
