"""crd: NCE against a memory of embeddings (Tian et al. 2020), per-sample memory or queue."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep


def nce64(out, bank_size, eps=1e-7):
    """The authors' ContrastLoss on P = exp(<v, w> / T) / Z (column 0 positive), P_n = 1 / N, m = K."""
    m, noise = out.shape[1] - 1, 1.0 / bank_size
    pos, neg = out[:, 0], out[:, 1:]
    log_d1 = torch.log(pos / (pos + m * noise + eps))
    log_d0 = torch.log((m * noise) / (neg + m * noise + eps))
    return -(log_d1.sum() + log_d0.sum()) / len(out)


def embed64(head, f):
    v = f.double().mean((2, 3)) @ head.weight.double().T + head.bias.double()
    return v / v.norm(dim=1, keepdim=True)


def _features(seed, batch=6, cs=8, ct=12):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, cs, 2, 2, generator=g).requires_grad_(True),
        torch.randn(batch, ct, 2, 2, generator=g).requires_grad_(True),
    )


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 8), nce_k=st.integers(1, 40), nce_t=st.floats(0.05, 1.0))
def test_queue_mode_matches_float64_reference(seed, batch, nce_k, nce_t):
    torch.manual_seed(seed)
    f_s, f_t = _features(seed, batch)
    crd = ep.create_loss("crd", feat_dim=16, nce_k=nce_k, nce_t=nce_t, student_channels=8, teacher_channels=12)
    memory_s, memory_t = crd.memory.student.double().clone(), crd.memory.teacher.double().clone()
    out = crd(torch.randn(batch, 3), None, None, student_features=f_s, teacher_features=f_t)
    v_s, v_t = embed64(crd.embed_student, f_s), embed64(crd.embed_teacher, f_t)
    scores_s = torch.exp(torch.cat([(v_s * v_t).sum(1, keepdim=True), v_s @ memory_t.T], 1) / nce_t)
    scores_t = torch.exp(torch.cat([(v_t * v_s).sum(1, keepdim=True), v_t @ memory_s.T], 1) / nce_t)
    z_s, z_t = scores_s.mean() * nce_k, scores_t.mean() * nce_k  # estimated on the first batch
    torch.testing.assert_close(out["nce_student"].double(), nce64(scores_s / z_s, nce_k), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["nce_teacher"].double(), nce64(scores_t / z_t, nce_k), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["loss"], 0.8 * (out["nce_student"] + out["nce_teacher"]))


def test_gradients_reach_the_student_and_both_heads_never_the_teacher_features():
    f_s, f_t = _features(0)
    crd = ep.create_loss("crd", nce_k=32)
    out = crd(torch.randn(6, 3), None, None, student_features=f_s, teacher_features=f_t)
    out["loss"].backward()
    assert f_s.grad.abs().sum() > 0 and f_t.grad is None
    heads = dict(crd.named_parameters())
    assert set(heads) == {"embed_student.weight", "embed_student.bias", "embed_teacher.weight", "embed_teacher.bias"}
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in heads.values())


def test_heads_exist_before_the_first_call_with_channels_lazily_without():
    eager = ep.create_loss("crd", student_channels=8, teacher_channels=12, feat_dim=4)
    assert eager.embed_student.weight.shape == (4, 8) and eager.embed_teacher.weight.shape == (4, 12)
    lazy = ep.create_loss("crd", feat_dim=4, nce_k=8)
    lazy(torch.randn(6, 3), None, None, student_features=_features(1)[0], teacher_features=_features(1)[1])
    assert lazy.embed_student.weight.shape == (4, 8) and lazy.embed_teacher.weight.shape == (4, 12)


def test_queue_is_fifo_and_saved_in_the_state_dict():
    crd = ep.create_loss("crd", feat_dim=4, nce_k=10, student_channels=8, teacher_channels=12)
    seen = []
    for seed in range(3):  # 6 + 6 + 6 rows through a queue of 10
        f_s, f_t = _features(seed)
        crd(torch.randn(6, 3), None, None, student_features=f_s, teacher_features=f_t)
        with torch.no_grad():
            seen.append(torch.nn.functional.normalize(crd.embed_teacher(f_t.mean((2, 3))), dim=1))
    rows = torch.cat(seen)  # written at positions 0..17 modulo 10
    torch.testing.assert_close(crd.memory.teacher, torch.cat([rows[10:18], rows[8:10]]))  # rows 10..17 wrapped
    assert int(crd.memory.pointer) == 8
    state = crd.state_dict()
    assert {"memory.student", "memory.teacher", "memory.pointer", "memory.log_normalizers"} <= set(state)
    z = crd.memory.log_normalizers.clone()
    assert torch.isfinite(z).all()
    restored = ep.create_loss("crd", feat_dim=4, nce_k=10, student_channels=8, teacher_channels=12)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.memory.teacher, crd.memory.teacher)
    torch.testing.assert_close(restored.memory.log_normalizers, z)
    fresh = ep.create_loss("crd", feat_dim=4, nce_k=10, student_channels=8, teacher_channels=12)
    crd.load_state_dict(fresh.state_dict())
    assert torch.isnan(crd.memory.log_normalizers).all()  # a fresh state: Z is estimated again, never used as NaN
    f_s, f_t = _features(5)
    out = crd(torch.randn(6, 3), None, None, student_features=f_s, teacher_features=f_t)
    assert torch.isfinite(out["loss"]) and torch.isfinite(crd.memory.log_normalizers).all()


def test_normalizer_is_estimated_once_and_eval_leaves_the_memory_alone():
    crd = ep.create_loss("crd", feat_dim=4, nce_k=10, student_channels=8, teacher_channels=12)
    with pytest.raises(ValueError, match="train"):
        crd.eval()(torch.randn(6, 3), None, None, student_features=_features(0)[0], teacher_features=_features(0)[1])
    crd.train()(torch.randn(6, 3), None, None, student_features=_features(0)[0], teacher_features=_features(0)[1])
    z, memory = crd.memory.log_normalizers.clone(), crd.memory.student.clone()
    crd(torch.randn(6, 3), None, None, student_features=_features(1)[0], teacher_features=_features(1)[1])
    assert torch.equal(crd.memory.log_normalizers, z) and not torch.equal(crd.memory.student, memory)
    memory = crd.memory.student.clone()
    crd.eval()(torch.randn(6, 3), None, None, student_features=_features(2)[0], teacher_features=_features(2)[1])
    assert torch.equal(crd.memory.student, memory)


def test_per_sample_memory_uses_the_sample_row_and_a_momentum_update():
    crd = ep.create_loss("crd", feat_dim=4, nce_k=5, num_data=20, student_channels=8, teacher_channels=12)
    f_s, f_t = _features(3)
    indices = torch.tensor([3, 7, 0, 19, 11, 5])
    before_s, before_t = crd.memory.student.double().clone(), crd.memory.teacher.double().clone()
    torch.manual_seed(4)  # the loss draws its negatives from the global generator
    negatives = torch.randint(0, 20, (6, 5))
    logits = torch.randn(6, 3)
    torch.manual_seed(4)
    out = crd(logits, None, None, student_features=f_s, teacher_features=f_t, indices=indices)
    v_s, v_t = embed64(crd.embed_student, f_s).detach(), embed64(crd.embed_teacher, f_t).detach()
    rows = torch.cat([indices[:, None], negatives], 1)
    scores_s = torch.exp(torch.einsum("bkd,bd->bk", before_t[rows], v_s) / 0.07)
    scores_t = torch.exp(torch.einsum("bkd,bd->bk", before_s[rows], v_t) / 0.07)
    expected = nce64(scores_s / (scores_s.mean() * 20), 20) + nce64(scores_t / (scores_t.mean() * 20), 20)
    torch.testing.assert_close(out["crd"].double(), expected, rtol=1e-4, atol=1e-5)
    normalize = torch.nn.functional.normalize
    torch.testing.assert_close(
        crd.memory.student[indices].double(), normalize(0.5 * before_s[indices] + 0.5 * v_s), rtol=1e-5, atol=1e-6
    )
    torch.testing.assert_close(
        crd.memory.teacher[indices].double(), normalize(0.5 * before_t[indices] + 0.5 * v_t), rtol=1e-5, atol=1e-6
    )
    untouched = torch.ones(20, dtype=torch.bool).index_fill_(0, indices, False)
    assert torch.equal(crd.memory.student[untouched].double(), before_s[untouched])


@pytest.mark.parametrize(
    "indices, match",
    [
        (None, "indices must be int"),
        (torch.arange(5), "indices must be int"),
        (torch.arange(6.0), "indices must be int"),
        (torch.tensor([0, 1, 2, 3, 4, 20]), r"\[0, num_data=20\)"),
    ],
)
def test_bad_indices_with_a_per_sample_memory(indices, match):
    crd = ep.create_loss("crd", feat_dim=4, nce_k=5, num_data=20)
    with pytest.raises(ValueError, match=match):
        crd(
            torch.randn(6, 3),
            None,
            None,
            student_features=_features(0)[0],
            teacher_features=_features(0)[1],
            indices=indices,
        )


def test_indices_without_a_per_sample_memory_are_refused():
    with pytest.raises(ValueError, match="num_data"):
        ep.create_loss("crd", nce_k=8)(
            torch.randn(6, 3),
            None,
            None,
            student_features=_features(0)[0],
            teacher_features=_features(0)[1],
            indices=torch.arange(6),
        )


def test_defaults_follow_repdistiller():
    crd = ep.create_loss("crd")
    assert (crd.feat_dim, crd.nce_k, crd.nce_t, crd.momentum, crd.crd_weight, crd.num_data) == (
        128,
        16384,
        0.07,
        0.5,
        0.8,
        None,
    )
    assert crd.memory.student.shape == (16384, 128)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"feat_dim": 0}, "feat_dim"),
        ({"nce_k": 2.5}, "nce_k"),
        ({"num_data": -3}, "num_data"),
        ({"momentum": 1.0}, "momentum"),
        ({"nce_t": 0}, "nce_t"),
        ({"crd_weight": -1}, "crd_weight"),
        ({"student_channels": 0}, "student_channels"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("crd", **kwargs)
