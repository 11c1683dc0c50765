"""Fused KD: CPU autograd path and Triton row kernel (TRITON_INTERPRET=1) against float64 references."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from effl_plugins.losses import fused_kd
from effl_plugins.losses.functional import kd_divergence, kd_divergence_reference


def reference64(s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    """float64 KD; a masked teacher class (``-inf``, ``p_t = 0``) adds no term."""
    s, t = s.double(), t.double()
    p_t = torch.softmax(t / temperature, -1)
    terms = p_t * (torch.log(p_t) - torch.log_softmax(s / temperature, -1))
    return temperature**2 * torch.where(p_t > 0, terms, torch.zeros_like(terms)).sum(-1).mean()


#: The CPU function's forms: whole rows, and chunks with rows shifted by their first logits or their maxima.
FORMS = {
    "whole rows": lambda *a: fused_kd._kd_whole_rows(*a),
    "anchored": lambda *a: fused_kd._kd_cpu(*a),
    "max-shifted": lambda *a: fused_kd._kd_cpu(*a, anchored=False),
}


@contextlib.contextmanager
def cpu_form(form):
    """Every CPU call in ``form`` whatever its shape."""
    old, small = fused_kd._cpu_form, fused_kd.SMALL_CALL_ELEMENTS
    fused_kd._cpu_form, fused_kd.SMALL_CALL_ELEMENTS = (lambda batch, classes: FORMS[form]), 0
    try:
        yield
    finally:
        fused_kd._cpu_form, fused_kd.SMALL_CALL_ELEMENTS = old, small


def value_and_grad(fn, s, t, temperature, upstream=1.0):
    s = s.detach().clone().requires_grad_(True)
    out = fn(s, t, temperature)
    (out * upstream).backward()
    return out.detach(), s.grad


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000), temperature=st.floats(0.5, 8), batch=st.integers(1, 70), classes=st.integers(2, 1500)
)
def test_cpu_fused_matches_float64_reference(seed, temperature, batch, classes):
    g = torch.Generator().manual_seed(seed)
    s, t = torch.randn(batch, classes, generator=g) * 4, torch.randn(batch, classes, generator=g) * 4
    ref, ref_grad = value_and_grad(reference64, s.double(), t, temperature, upstream=0.7)
    for form in FORMS:
        with cpu_form(form):
            loss, grad = value_and_grad(fused_kd.kd_divergence_cpu, s, t, temperature, upstream=0.7)
        torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=2e-6 * temperature**2)
        torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("form", ["anchored", "max-shifted"])
def test_cpu_fused_chunks_rows_and_survives_large_logits(monkeypatch, form):
    """Several chunks (the last one partial, on the first rows of the full chunk's scratch) and rows offset by
    thousands: either shift keeps exp finite; a second call reuses the scratch, a third of another batch
    size makes its own."""
    monkeypatch.setattr(fused_kd, "_chunk_elements", lambda: 3 * 50)
    monkeypatch.setattr(fused_kd, "_SCRATCH", type(fused_kd._SCRATCH)())
    g = torch.Generator().manual_seed(3)
    offsets = torch.tensor([0.0, 3000.0, -3000.0, 80.0]).repeat(4)[:, None]
    s, t = torch.randn(16, 50, generator=g) * 5 + offsets, torch.randn(16, 50, generator=g) * 5 + offsets
    t[5, 7] = float("-inf")  # a masked class in the partial chunk
    ref, ref_grad = value_and_grad(reference64, s.double(), t, 2.0)
    with cpu_form(form):
        for batch in (16, 16, 13):
            loss, grad = value_and_grad(fused_kd.kd_divergence_cpu, s[:batch], t[:batch], 2.0)
            if batch == 16:
                assert torch.isfinite(loss) and torch.isfinite(grad).all()
                torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-4, atol=1e-7)
    part = value_and_grad(reference64, s[:13].double(), t[:13], 2.0)
    torch.testing.assert_close(loss.double(), part[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad.double(), part[1], rtol=1e-4, atol=1e-7)
    (key, scratch), *others = fused_kd._SCRATCH.shapes.items()
    assert not others and key == (50, torch.float32, torch.device("cpu"))
    assert (
        scratch.rows == 3 and list(scratch.parts) == [1] and scratch.parts[1].u_s.data_ptr() == scratch.u_s.data_ptr()
    )


@pytest.mark.parametrize("form", FORMS)
def test_cpu_fused_equals_eager_reference_to_float32_rounding(form):
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(300, 1000, generator=g) * 3, torch.randn(300, 1000, generator=g) * 3
    with cpu_form(form):
        loss, grad = value_and_grad(fused_kd.kd_divergence_cpu, s, t, 4.0)
    ref, ref_grad = value_and_grad(kd_divergence_reference, s, t, 4.0)
    torch.testing.assert_close(loss, ref, rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-9)


def test_dispatch_uses_fused_path_on_cpu_and_keeps_dtypes():
    s = torch.randn(5, 7, dtype=torch.bfloat16, requires_grad=True)
    t = torch.randn(5, 7, dtype=torch.bfloat16, requires_grad=True)
    out = kd_divergence(s, t, 2.0)
    assert out.grad_fn is not None and "KDDivergenceCPU" in type(out.grad_fn).__name__
    assert out.dtype == torch.float32
    out.backward()
    assert s.grad.dtype == torch.bfloat16 and t.grad is None
    ref = kd_divergence_reference(s.detach().float(), t.detach().float(), 2.0)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)


def _spy_shifts(monkeypatch) -> list:
    """The ``anchored`` argument of every chunk ``_kd_cpu`` computes, in order, and ``"whole rows"`` for each
    call of that form."""
    shifts, chunk, whole = [], fused_kd._kd_chunk, fused_kd._kd_whole_rows
    monkeypatch.setattr(fused_kd, "_kd_chunk", lambda *a: shifts.append(a[5]) or chunk(*a))
    monkeypatch.setattr(fused_kd, "_kd_whole_rows", lambda *a: shifts.append("whole rows") or whole(*a))
    return shifts


_SMALL, _FEW = fused_kd.SMALL_CALL_ELEMENTS, fused_kd.CPU_WHOLE_ROWS_MIN_CLASSES
FORM_CASES = [  # batch, classes, what computes it
    (2, 3, False),  # below CPU_WHOLE_ROWS_MIN_CLASSES classes: chunks shifted by the maxima while small
    (_SMALL // (_FEW - 1), _FEW - 1, False),
    (_SMALL // (_FEW - 1) + 1, _FEW - 1, True),  # from SMALL_CALL_ELEMENTS: shifted by the first logits
    (4, _FEW, "whole rows"),
    (64, 100, "whole rows"),
    (1, _SMALL - 1, "whole rows"),
    (1, _SMALL, True),
    (64, 1000, True),
]


@pytest.mark.parametrize("batch, classes, form", FORM_CASES)
def test_cpu_calls_of_every_shape_take_the_form_for_their_shape(monkeypatch, batch, classes, form):
    shifts = _spy_shifts(monkeypatch)
    s = torch.randn(batch, classes, requires_grad=True)
    assert "KDDivergenceCPU" in type(kd_divergence(s, torch.randn_like(s), 2.0).grad_fn).__name__
    assert shifts == [form]


@pytest.mark.parametrize("case", ["overflow", "masked first teacher class", "masked class"])
def test_a_chunk_whose_first_logit_shift_is_not_finite_is_shifted_by_its_maxima(monkeypatch, case):
    """A logit ~300 T above its row's first overflows exp; a masked first teacher logit (-inf) is no shift:
    that chunk alone is computed again shifted by its maxima, and equals the float64 reference. A masked class
    elsewhere needs no second computation (its product is raised to 0 within the chunk)."""
    monkeypatch.setattr(fused_kd, "_chunk_elements", lambda: 4 * 60)
    g = torch.Generator().manual_seed(6)
    s, t = torch.randn(8, 60, generator=g) * 3, torch.randn(8, 60, generator=g) * 3
    row, column = {"overflow": (5, 9), "masked first teacher class": (6, 0), "masked class": (6, 9)}[case]
    if case == "overflow":
        s[row, column] = 300.0
    else:
        t[row, column] = float("-inf")
    shifts = _spy_shifts(monkeypatch)
    with cpu_form("anchored"):
        loss, grad = value_and_grad(fused_kd.kd_divergence_cpu, s, t, 1.0)
    assert shifts == ([True, True] if case == "masked class" else [True, True, False])
    ref, ref_grad = value_and_grad(reference64, s.double(), t, 1.0)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("form", FORMS)
def test_no_grad_inputs_take_the_fused_forward_and_are_not_modified(form):
    s, t = torch.randn(4, 9), torch.randn(4, 9)
    t[1, 2] = float("-inf")
    s0, t0 = s.clone(), t.clone()
    with cpu_form(form):
        out = kd_divergence(s, t, 3.0)
    assert out.grad_fn is None and fused_kd.kd_path(s) == "fused"
    assert torch.equal(s, s0) and torch.equal(t, t0)
    torch.testing.assert_close(out.double(), reference64(s, t, 3.0), rtol=1e-5, atol=1e-5)


TRITON_CASES = [  # batch, classes, dtype, with_grad, masked (-inf teacher classes)
    (3, 10, "float32", True, False),
    (2, 5000, "float32", True, False),
    (4, 37, "bfloat16", True, False),
    (2, 20, "float32", False, False),
    (3, 10, "float32", True, True),
    (2, 5000, "float32", True, True),  # row 0: its first column block (4096) wholly masked
    (3, 5000, "float32", True, "nan"),  # a NaN (student, teacher) reaches the value: KDLoss checks that value
]

TRITON_SCRIPT = """
import sys, torch
from effl_plugins.losses import fused_kd
results = []
for batch, classes, dtype, with_grad, masked in CASES:
    g = torch.Generator().manual_seed(classes)
    s = (torch.randn(batch, classes, generator=g) * 3).to(getattr(torch, dtype))
    t = (torch.randn(batch, classes, generator=g) * 3).to(getattr(torch, dtype))
    if masked == "nan":
        s[0, 4500] = t[2, 3] = float("nan")
    elif masked:
        t[:, 1::3] = float("-inf")
        t[0, : min(classes - 1, 4500)] = float("-inf")
    s.requires_grad_(with_grad)
    loss = fused_kd.kd_divergence_triton(s, t, 2.5)
    if with_grad:
        (loss * 1.3).backward()
    results.append((s.detach(), t, loss.detach(), s.grad))
torch.save(results, sys.argv[1])
"""


@pytest.fixture(scope="module")
def triton_results(tmp_path_factory):
    """Run the Triton kernel in a fresh interpreter: TRITON_INTERPRET must be set before triton is imported."""
    pytest.importorskip("triton")
    if not fused_kd.triton_available():
        pytest.skip("triton does not import here")
    out = tmp_path_factory.mktemp("triton") / "kd.pt"
    env = dict(os.environ, TRITON_INTERPRET="1")
    script = f"CASES = {TRITON_CASES!r}\n" + TRITON_SCRIPT
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out)], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out)


@pytest.mark.parametrize("index", range(len(TRITON_CASES)))
def test_triton_row_kernel_matches_reference_under_interpreter(triton_results, index):
    s, t, loss, grad = triton_results[index]
    with_grad = TRITON_CASES[index][3]
    if TRITON_CASES[index][4] == "nan":
        assert torch.isnan(loss)
        return
    assert torch.isfinite(loss) and (grad is None or torch.isfinite(grad.float()).all())
    ref, ref_grad = value_and_grad(reference64, s.double(), t.double(), 2.5, upstream=1.3)
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)
    if not with_grad:
        assert grad is None
        return
    assert grad.dtype == s.dtype
    tol = dict(rtol=1e-4, atol=1e-7) if s.dtype == torch.float32 else dict(rtol=1e-2, atol=1e-4)
    torch.testing.assert_close(grad.double(), ref_grad, **tol)


@pytest.mark.parametrize("form", FORMS)
def test_a_second_derivative_through_the_cpu_function_is_refused(form):
    """The gradient is a constant of the forward: backward skips once_differentiable's no-grad context, except
    under create_graph=True, where differentiating the gradient again raises as before."""
    s = torch.randn(4, 20, requires_grad=True)
    scale = torch.tensor(2.0, requires_grad=True)
    with cpu_form(form):
        loss = fused_kd.kd_divergence_cpu(s, torch.randn(4, 20), 2.0) * scale
        (grad,) = torch.autograd.grad(loss, s, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad.sum().backward()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_each_cpu_shift_computes_in_float32_or_wider_and_returns_the_input_dtype(form, dtype):
    g = torch.Generator().manual_seed(11)
    s, t = (torch.randn(6, 40, generator=g) * 3).to(dtype), (torch.randn(6, 40, generator=g) * 3).to(dtype)
    with cpu_form(form):
        loss, grad = value_and_grad(fused_kd.kd_divergence_cpu, s, t, 2.5, upstream=1.5)
    ref, ref_grad = value_and_grad(kd_divergence_reference, s, t, 2.5, upstream=1.5)
    assert loss.dtype == torch.promote_types(dtype, torch.float32) and grad.dtype == dtype
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(loss, ref, **tol)
    torch.testing.assert_close(grad, ref_grad, **(tol if dtype == torch.float64 else dict(rtol=1e-2, atol=1e-5)))


@pytest.mark.parametrize("form", FORMS)
def test_scratch_reused_across_temperatures_and_batches_keeps_each_call_exact(form):
    """The kept scratch holds the last call's constants (T / B, T^2 / B): a call with another temperature or
    batch refreshes them."""
    g = torch.Generator().manual_seed(12)
    s, t = torch.randn(8, 30, generator=g) * 3, torch.randn(8, 30, generator=g) * 3
    with cpu_form(form):
        for temperature, batch in ((2.0, 8), (3.0, 8), (3.0, 8), (2.0, 8), (2.0, 5)):
            loss, grad = value_and_grad(fused_kd.kd_divergence_cpu, s[:batch], t[:batch], temperature)
            ref, ref_grad = value_and_grad(kd_divergence_reference, s[:batch], t[:batch], temperature)
            torch.testing.assert_close(loss, ref, rtol=2e-6, atol=1e-6)
            torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=3e-8)  # terms up to T / B * p ~ 0.2


def test_second_backward_through_the_same_graph_is_refused_clearly():
    s = torch.randn(3, 5, requires_grad=True)
    loss = fused_kd.kd_divergence_cpu(s, torch.randn(3, 5), 2.0)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


PATH_CASES = [(9, 7), (4, 300), (2, 3000)]


@pytest.mark.parametrize("masked", [False, True], ids=["finite", "masked"])
@pytest.mark.parametrize("batch, classes", PATH_CASES)
@pytest.mark.parametrize("path", ["eager", "fused whole rows", "fused anchored", "fused max-shifted", "auto"])
def test_every_path_matches_the_float64_reference(path, batch, classes, masked):
    """Each path forced (and the automatic choice) against float64, value and gradient; masked classes
    (-inf teacher logits) are probability 0. The Triton path: test_triton_row_kernel_matches_reference_*."""
    g = torch.Generator().manual_seed(classes)
    s, t = torch.randn(batch, classes, generator=g) * 4, torch.randn(batch, classes, generator=g) * 4
    if masked:
        t[:, ::4] = float("-inf")
    with cpu_form(path.split(" ", 1)[1]) if path.startswith("fused") else contextlib.nullcontext():
        loss, grad = value_and_grad(lambda s, t, T: kd_divergence(s, t, T, path[:5]), s, t, 3.0, upstream=0.6)
    ref, ref_grad = value_and_grad(reference64, s.double(), t, 3.0, upstream=0.6)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-4, atol=1e-8)


def test_paths_agree_to_float32_rounding():
    g = torch.Generator().manual_seed(5)
    s, t = torch.randn(64, 500, generator=g) * 3, torch.randn(64, 500, generator=g) * 3
    eager, eager_grad = value_and_grad(lambda s, t, T: kd_divergence(s, t, T, "eager"), s, t, 2.0)
    fused, fused_grad = value_and_grad(lambda s, t, T: kd_divergence(s, t, T, "fused"), s, t, 2.0)
    torch.testing.assert_close(fused, eager, rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(fused_grad, eager_grad, rtol=1e-5, atol=1e-9)


def test_forced_paths_are_taken():
    s = torch.randn(4, 6, requires_grad=True)
    t = torch.randn(4, 6)
    assert "KDDivergenceCPU" in type(kd_divergence(s, t, 2.0, "fused").grad_fn).__name__
    assert "KDDivergenceCPU" not in type(kd_divergence(s, t, 2.0, "eager").grad_fn).__name__
    assert fused_kd.kd_path(s) == "fused" and fused_kd.kd_path(s, "eager") == "eager"
    assert fused_kd.kd_path(s.detach().double()) == "fused"
    if not torch.cuda.is_available():
        assert fused_kd.kd_path(torch.empty(2, 3, device="meta")) == "eager"  # other devices: the reference


def test_bad_paths_are_refused():
    import effl_plugins as ep

    s = torch.randn(2, 3)
    with pytest.raises(ValueError, match="path must be one of auto, eager, fused, triton, got 'cuda'"):
        kd_divergence(s, s, 2.0, "cuda")
    with pytest.raises(ValueError, match="path must be one of"):
        ep.create_loss("kd", path="fast")
    if not fused_kd._interpreting():
        with pytest.raises(ValueError, match="path='triton' needs Triton and CUDA tensors"):
            kd_divergence(s, s, 2.0, "triton")
    assert ep.create_loss("kd", path="eager").path == "eager"


@pytest.mark.parametrize("classes", [10, 100, fused_kd.SMALL_CALL_ELEMENTS // 4])
def test_auto_is_bit_identical_to_the_path_it_chooses(classes):
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(4, classes, generator=g) * 3, torch.randn(4, classes, generator=g) * 3
    chosen = fused_kd.kd_path(s.clone().requires_grad_(True))
    assert chosen == "fused"
    auto, auto_grad = value_and_grad(lambda s, t, T: kd_divergence(s, t, T), s, t, 4.0)
    forced, forced_grad = value_and_grad(lambda s, t, T: kd_divergence(s, t, T, chosen), s, t, 4.0)
    assert torch.equal(auto, forced) and torch.equal(auto_grad, forced_grad)


@pytest.mark.parametrize("threads, elements", [(1, 1 << 17), (2, 1 << 18), (16, 1 << 21), (64, 1 << 21)])
def test_chunks_grow_with_the_threads_up_to_the_scratch_bound(monkeypatch, threads, elements):
    """A chunk holds CHUNK_ELEMENTS_PER_THREAD logits per torch thread (each thread's share of a plane stays in
    its L2 cache), never more than CHUNK_ELEMENTS_MAX (the scratch kept between calls is bounded)."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert fused_kd._chunk_elements() == elements
    monkeypatch.setattr(fused_kd, "_SCRATCH", type(fused_kd._SCRATCH)())
    s, t = torch.randn(3, elements // 2), torch.randn(3, elements // 2)
    loss, grad = fused_kd._kd_cpu(s, t, 2.0, True)
    (_, scratch), *others = fused_kd._SCRATCH.shapes.items()
    assert not others and scratch.planes.shape == (3, 2, elements // 2)  # two rows a chunk, then one
    ref, ref_grad = value_and_grad(reference64, s.double(), t, 2.0)
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)  # float32 sums of a million terms
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-4, atol=1e-11)
