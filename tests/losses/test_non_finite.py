"""The non-finite rule, for every built-in loss (effl_plugins.losses.base): NaN and +inf refused with a
ValueError naming the argument, the count and the loss; -inf refused except in teacher logits, where it
is a masked class (probability 0) that the KD-family losses compute exactly."""

from __future__ import annotations

import copy

import pytest
import torch

import effl_plugins as ep

from .test_common import LOSSES

INF = float("inf")
MASKING = sorted(n for n in LOSSES if ep.create_loss(n, **LOSSES[n]).masked_teacher)
REFUSING = sorted(set(LOSSES) - set(MASKING))
FEATURE_LOSSES = sorted(n for n in LOSSES if ep.create_loss(n, **LOSSES[n]).uses_features)


def test_which_losses_take_masked_teacher_classes():
    assert REFUSING == ["logit_std_kd", "mse_logits"]


def _inputs(seed=0, batch=5, classes=7):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(batch, classes, generator=g) * 2).requires_grad_(True)
    t = torch.randn(batch, classes, generator=g) * 2
    return s, t, torch.arange(batch) % classes


def _features(loss, batch=5, channels=8, value=None, where=None):
    """Feature maps ``[B, C, 4, 4]`` (lists of ``feature_levels``), one entry of ``where`` set to ``value``."""
    levels = getattr(loss, "feature_levels", 1)
    g = torch.Generator().manual_seed(3)
    maps = {
        side: [torch.randn(batch, channels, 4, 4, generator=g) for _ in range(levels)]
        for side in ("student_features", "teacher_features")
    }
    if where is not None:
        maps[where][-1][1, 2, 0, 3] = value
    return {k: v if levels > 1 else v[0] for k, v in maps.items()}


def _call(name, s, t, y, **features):
    return ep.create_loss(name, **LOSSES[name])(s, t, y, **features)


@pytest.mark.parametrize("argument", ["student_logits", "teacher_logits"])
@pytest.mark.parametrize("name", LOSSES)
def test_nan_logits_are_refused_naming_argument_count_and_loss(name, argument):
    s, t, y = _inputs()
    bad = (s.detach().clone() if argument == "student_logits" else t.clone()).index_put_(
        (torch.tensor([0, 3, 3]), torch.tensor([1, 2, 6])), torch.tensor(float("nan"))
    )
    args = (bad.requires_grad_(True), t) if argument == "student_logits" else (s, bad)
    cls = type(ep.create_loss(name, **LOSSES[name])).__name__
    with pytest.raises(ValueError, match=rf"{cls} refuses non-finite {argument}: 3 NaN of 35 entries"):
        _call(name, *args, y)


@pytest.mark.parametrize("where", ["student_features", "teacher_features"])
@pytest.mark.parametrize("name", FEATURE_LOSSES)
def test_nan_and_inf_features_are_refused(name, where):
    s, t, y = _inputs()
    loss = ep.create_loss(name, **LOSSES[name])
    label = where if getattr(loss, "feature_levels", 1) == 1 else rf"{where}\[\d\]"
    for value, kind in ((float("nan"), "1 NaN"), (INF, r"1 \+inf"), (-INF, "1 -inf")):
        with pytest.raises(ValueError, match=rf"{type(loss).__name__} refuses non-finite {label}: {kind} of"):
            loss(s, t, y, **_features(loss, value=value, where=where))


@pytest.mark.parametrize("argument", ["student_logits", "teacher_logits"])
@pytest.mark.parametrize("name", LOSSES)
def test_plus_inf_anywhere_and_minus_inf_in_the_student_are_refused(name, argument):
    s, t, y = _inputs()
    for value, kind in ((INF, r"2 \+inf"), (-INF, "2 -inf")):
        if value < 0 and argument == "teacher_logits" and name in MASKING:
            continue  # a masked class: test_masked_teacher_classes_*
        bad = (s.detach() if argument == "student_logits" else t).clone()
        bad[1, 1] = bad[2, 4] = value
        args = (bad.requires_grad_(True), t) if argument == "student_logits" else (s, bad)
        with pytest.raises(ValueError, match=rf"refuses non-finite {argument}: {kind} of 35 entries"):
            _call(name, *args, y)


@pytest.mark.parametrize("name", REFUSING)
def test_losses_without_a_masked_class_refuse_minus_inf_teacher_logits(name):
    s, t, y = _inputs()
    t[0, 3] = -INF
    with pytest.raises(ValueError, match=r"teacher_logits: 1 -inf of 35 entries \(this loss cannot treat -inf"):
        _call(name, s, t, y)


@pytest.mark.parametrize("name", ["rkd", "pkt"])
def test_logits_as_embeddings_refuse_masked_classes(name):
    s, t, y = _inputs()
    t[0, 3] = -INF
    with pytest.raises(ValueError, match="cannot treat -inf as a masked class"):
        _call(name, s, t, y)  # no features: the logits are the embeddings
    loss = ep.create_loss(name, kd_weight=1.0)
    assert torch.isfinite(loss(s, t, y, **_features(loss))["loss"])  # features given: -inf reaches the KD part only


def _masked(t):
    t = t.clone()
    t[0, 3] = t[2, 0] = t[2, 6] = t[4, 5] = -INF
    return t


@pytest.mark.parametrize("name", MASKING)
def test_masked_teacher_classes_are_the_limit_of_a_vanishing_probability(name):
    """-inf equals its finite limit (a logit 1e4 below the row's others: probability 0 in float32),
    value and gradient, and both stay finite; the inputs are left as they were."""
    s, t, y = _inputs()
    masked = _masked(t)
    s0, t0 = s.detach().clone(), masked.clone()
    loss = ep.create_loss(name, **LOSSES[name])
    twin = copy.deepcopy(loss)  # the same heads and memory (crd) for the comparison
    features = _features(loss) if loss.uses_features else {}
    torch.manual_seed(0)  # crd draws its negatives
    out = loss(s, masked, y, **features)
    out["loss"].backward()
    grad, s.grad = s.grad, None
    assert all(torch.isfinite(v) for v in out.values()) and torch.isfinite(grad).all()
    assert torch.equal(s.detach(), s0) and torch.equal(masked.isneginf(), t0.isneginf())
    assert torch.equal(masked[torch.isfinite(masked)], t0[torch.isfinite(t0)])
    limit = torch.where(masked.isneginf(), t.min() - 1e4, t)
    torch.manual_seed(0)
    expected = twin(s, limit, y, **features)
    expected["loss"].backward()
    for key in expected:
        torch.testing.assert_close(out[key], expected[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, s.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", MASKING)
def test_a_teacher_row_masked_in_every_class_is_refused(name):
    s, t, y = _inputs()
    t[3] = -INF
    loss = ep.create_loss(name, **LOSSES[name])
    features = _features(loss) if loss.uses_features else {}
    with pytest.raises(ValueError, match=r"refuses teacher_logits row 3: -inf in every class"):
        loss(s, t, y, **features)


@pytest.mark.parametrize("name", ["dkd", "nkd"])
def test_target_class_losses_refuse_a_row_whose_non_target_classes_are_all_masked(name):
    s, t, y = _inputs()
    t[2] = -INF
    t[2, y[2]] = 1.0
    with pytest.raises(ValueError, match=r"refuses teacher_logits row 2: -inf in every class but the target class"):
        _call(name, s, t, y)


def reference64(s, t, temperature):
    """``T^2 KL(p_t || p_s)`` batchmean in float64, a masked class (``-inf``) given ``p_t = 0`` and no term."""
    s, t = s.double(), t.double()
    p_t = torch.softmax(t / temperature, -1)
    log_p_s = torch.log_softmax(s / temperature, -1)
    terms = torch.where(p_t > 0, p_t * (torch.log(p_t) - log_p_s), torch.zeros_like(p_t))
    return temperature**2 * terms.sum(-1).mean()


@pytest.mark.parametrize("path", ["eager", "fused", "fused anchored"])
@pytest.mark.parametrize("classes", [7, 300])
def test_kd_with_masked_teacher_classes_equals_the_float64_reference(monkeypatch, path, classes):
    if path == "fused anchored":
        from effl_plugins.losses import fused_kd

        monkeypatch.setattr(fused_kd, "SMALL_CALL_ELEMENTS", 0)
        path = "fused"
    s, t, _ = _inputs(seed=4, batch=9, classes=classes)
    t = _masked(t)
    t[:, -2] = -INF  # a whole column too
    t0 = t.clone()
    loss = ep.create_loss("kd", temperature=3.0, path=path)
    out = loss(s, t)["loss"]
    out.backward()
    s64 = s.detach().double().requires_grad_(True)
    ref = reference64(s64, t, 3.0)
    ref.backward()
    assert torch.isfinite(out) and torch.isfinite(s.grad).all()
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s.grad.double(), s64.grad, rtol=1e-4, atol=1e-8)
    assert torch.equal(t.isneginf(), t0.isneginf()) and torch.equal(t[t.isfinite()], t0[t0.isfinite()])


def test_check_runs_on_the_logits_the_loss_reads():
    """With teacher_classes, NaN or -inf in teacher classes the student does not map to are not read."""
    s, t, y = _inputs(classes=4)
    teacher = torch.cat([t, torch.full((5, 2), float("nan"))], 1)
    loss = ep.create_loss("kd", teacher_classes=[0, 1, 2, 3])
    torch.testing.assert_close(loss(s, teacher, y)["loss"], ep.create_loss("kd")(s, t, y)["loss"])


def _bad_kd_inputs(kind, batch=4, classes=300):
    g = torch.Generator().manual_seed(8)
    s, t = torch.randn(batch, classes, generator=g), torch.randn(batch, classes, generator=g)
    if kind == "nan student":
        s[1, 7] = float("nan")
    elif kind == "nan teacher":
        t[2, 0] = t[3, 299] = float("nan")
    elif kind == "+inf teacher":
        t[0, 5] = INF
    elif kind == "-inf student":
        s[3, 9] = -INF
    elif kind == "masked row":
        t[2] = -INF
    return s.requires_grad_(True), t


KD_BAD = {
    "nan student": r"KDLoss refuses non-finite student_logits: 1 NaN of 1200 entries",
    "nan teacher": r"KDLoss refuses non-finite teacher_logits: 2 NaN of 1200 entries",
    "+inf teacher": r"KDLoss refuses non-finite teacher_logits: 1 \+inf of 1200 entries",
    "-inf student": r"KDLoss refuses non-finite student_logits: 1 -inf of 1200 entries",
    "masked row": r"KDLoss refuses teacher_logits row 2: -inf in every class",
}


@pytest.mark.parametrize("kind", KD_BAD)
@pytest.mark.parametrize("path", ["eager", "fused", "fused anchored"])
def test_kd_checks_its_value_and_names_the_argument_on_every_path(monkeypatch, path, kind):
    """kd defers the rule to its value (which reads every logit): the same errors on every path."""
    if path == "fused anchored":
        from effl_plugins.losses import fused_kd

        monkeypatch.setattr(fused_kd, "SMALL_CALL_ELEMENTS", 0)
    s, t = _bad_kd_inputs(kind)
    with pytest.raises(ValueError, match=KD_BAD[kind]):
        ep.create_loss("kd", path=path[:5])(s, t, torch.arange(4))


def test_kd_with_finite_inputs_makes_no_pass_over_them(monkeypatch):
    from effl_plugins.losses import base

    calls = []
    monkeypatch.setattr(base, "check_finite", lambda *a, **k: calls.append(k) or False)
    s, t, y = _inputs(classes=300)
    for path in ("eager", "fused"):
        ep.create_loss("kd", path=path)(s, _masked(t), y)["loss"].backward()
    assert calls == []
