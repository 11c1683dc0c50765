"""Fused knowledge-distillation divergence (Hinton et al. 2015) with the analytic gradient.

``KD = T^2 / B * sum_rows KL(softmax(t/T) || softmax(s/T))`` and its student gradient
``dKD/ds = T / B * (softmax(s/T) - softmax(t/T))`` are produced in the same pass over each row,
so backward is a single multiply by the incoming scalar gradient instead of replaying the
log-softmax / KL graph. Two implementations, one contract (equal to ``kd_divergence_reference``
to float32 rounding, forward and backward):

- CPU: a ``torch.autograd.Function`` in two forms by size (``CPU_CHUNKED_MIN_ELEMENTS``): small
  inputs go through torch's log-softmax over whole rows (about a dozen ops), large ones through the
  batch in large row chunks and reused workspaces, in base 2 with one ``exp2`` per element per input
  (no elementwise log). Neither has a graph to replay in backward.
- CUDA: a Triton kernel, one program per row, that reads the student and teacher rows and writes
  the row's KL and the row's gradient (online max / log-sum-exp over column blocks).

``kd_path`` picks one of three paths for a call (``path="auto"``), or checks a forced one:
``"triton"`` for CUDA tensors when Triton imports; ``"fused"`` (the CPU function) for CPU tensors,
at every size (measured faster than the eager reference at each, see ``CPU_CHUNKED_MIN_ELEMENTS``);
otherwise ``"eager"`` (``functional.kd_divergence_reference``: log-softmax, KL, autograd). The Triton kernel
is built on first use, so ``TRITON_INTERPRET=1`` set before that first use runs it on CPU tensors
(how the tests check it).
"""

from __future__ import annotations

import functools
import math
import os
import threading

import torch
from torch.autograd.function import once_differentiable

from .._triton import triton_available

__all__ = [
    "KD_PATHS",
    "fused_kd_divergence",
    "kd_divergence_cpu",
    "kd_divergence_triton",
    "kd_path",
    "triton_available",
]

#: The values of ``path=``: ``"auto"`` chooses by device and size (``kd_path``), the others force a path.
KD_PATHS = ("auto", "eager", "fused", "triton")

tl = None  # triton.language, bound by _build_kernel

#: Elements per chunk of rows on the CPU path (4 MiB of float32 per workspace). Every torch op
#: opens a parallel region whose cost (a scheduler time slice when the cores are contended) does
#: not shrink with the chunk, so chunks are few and large rather than L2-sized.
CHUNK_ELEMENTS = 1 << 20

#: From this many logits (``B * K``) the CPU function runs in chunks (``_kd_rows_and_grad``), below
#: it over whole rows (``_kd_whole_rows``); both beat the eager reference at every size measured, so
#: ``path="auto"`` takes the CPU function for every CPU call. The measurements that place the crossover:
#: ``benchmarks/RESULTS.md``, "Fused KD on the CPU".
CPU_CHUNKED_MIN_ELEMENTS = 100_000

_FLOOR = {dtype: torch.finfo(dtype).min for dtype in (torch.float32, torch.float64)}
_LOG2_E = 1.0 / math.log(2.0)
_LN_2 = math.log(2.0)


def _compute_dtype(student: torch.Tensor) -> torch.dtype:
    return torch.promote_types(student.dtype, torch.float32)


_WORKSPACE = threading.local()


def _workspace(rows: int, classes: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A ``[3, rows, classes]`` scratch buffer, kept per thread between calls (at most
    ``3 * CHUNK_ELEMENTS`` elements), so repeated calls do not pay fresh page faults."""
    cached = getattr(_WORKSPACE, "buffer", None)
    if cached is not None and cached.dtype == dtype and cached.device == device and cached.shape[1:] == (rows, classes):
        return cached
    buffer = torch.empty((3, rows, classes), dtype=dtype, device=device)
    if buffer.numel() <= 3 * CHUNK_ELEMENTS:
        _WORKSPACE.buffer = buffer
    return buffer


def _kd_whole_rows(student, teacher, temperature: float, with_grad: bool):
    """``_kd_rows_and_grad``'s result for small inputs, with torch's log-softmax over whole rows (one
    kernel each) instead of the chunked base-2 passes: ``KL_row = sum p_t (log p_t - log p_s)`` and the
    gradient ``T / B * (p_s - p_t)`` from the same log-probabilities, in about a dozen ops and no chunk
    loop. A masked teacher class (``log p_t = -inf``) is raised to the dtype's lowest finite value, so
    that ``p_t`` is exactly 0 and ``log p_t - log p_s`` finite: it adds exactly 0 (the teacher's
    log-probabilities are a fresh buffer, changed in place)."""
    dtype = _compute_dtype(student)
    log_s = torch.log_softmax(student.to(dtype) / temperature, -1)
    log_t = torch.log_softmax(teacher.to(dtype) / temperature, -1).clamp_min_(_FLOOR[dtype])
    p_t = log_t.exp()
    rows = torch.sub(log_t, log_s).mul_(p_t).sum(-1)
    grad = log_s.exp_().sub_(p_t).mul_(temperature / student.shape[0]) if with_grad else None
    return rows, grad


def _kd_rows_and_grad(student, teacher, temperature: float, with_grad: bool):
    """Per-row KL [B] and, if asked, the student gradient of the batchmean KD,
    ``T / B * (softmax(s/T) - softmax(t/T))`` [B, K] (both in the compute dtype).

    Works in base 2, where torch's ``exp2`` costs about half of ``exp``: with ``u = x log2(e) / T``
    shifted by its row maximum, ``e = 2^u`` and ``z = sum e``, ``softmax(x/T) = e / z`` and
    ``log softmax(x/T) = ln2 u - ln z``, so

        ``KL_row = ln2 * sum(e_t (u_t - u_s)) / z_t - ln z_t + ln z_s``.

    A masked teacher class (``-inf``) has ``u_t = -inf``: raised to the dtype's lowest finite value, its
    ``e_t = 2^u_t`` is exactly 0 and ``u_t - u_s`` finite, so it adds exactly 0 to ``KL_row`` and to the
    gradient (``0 * -inf`` would be NaN); every finite ``u_t`` is unchanged.

    One ``exp2`` per element per input and no elementwise log. Rows go in chunks of about
    ``CHUNK_ELEMENTS`` through three scratch planes; per chunk two row maxima, two shifted
    scalings, two ``exp2``, two row sums, one difference, one product-sum and the two-term
    gradient, with no allocation but the gradient itself.
    """
    dtype = _compute_dtype(student)
    batch, classes = student.shape
    rows = student.new_empty(batch, dtype=dtype)
    grad = student.new_empty((batch, classes), dtype=dtype) if with_grad else None
    step = min(batch, max(1, CHUNK_ELEMENTS // max(classes, 1)))
    scratch = _workspace(step, classes, dtype, student.device)
    scale = _LOG2_E / temperature
    grad_scale = temperature / batch
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        u_s, u_t, e_t = (plane[: stop - start] for plane in scratch)
        e_s = grad[start:stop] if grad is not None else u_s
        _shifted_base2(student[start:stop], scale, u_s)
        _shifted_base2(teacher[start:stop], scale, u_t).clamp_min_(_FLOOR[dtype])  # masked classes: see above
        z_t = torch.exp2(u_t, out=e_t).sum(-1)
        cross = u_t.sub_(u_s).mul_(e_t).sum(-1)
        z_s = torch.exp2(u_s, out=e_s).sum(-1)
        torch.sub(torch.log(z_s), torch.log(z_t), out=rows[start:stop]).add_(cross.div_(z_t), alpha=_LN_2)
        if grad is not None:
            e_s.mul_(z_s.reciprocal_().mul_(grad_scale).unsqueeze(-1)).addcmul_(
                e_t, z_t.reciprocal().mul_(-grad_scale).unsqueeze(-1)
            )
    return rows, grad


def _shifted_base2(logits: torch.Tensor, scale: float, out: torch.Tensor) -> torch.Tensor:
    """``out = scale * (logits - rowmax(logits))`` in the compute dtype of ``out`` (scale > 0)."""
    shift = logits.amax(-1, keepdim=True).to(out.dtype).mul_(-scale)
    return torch.add(shift, logits, alpha=scale, out=out)


def _consume_gradient(ctx, grad_output: torch.Tensor) -> torch.Tensor:
    """Scale the gradient computed in forward by the incoming one, in place, and hand it over (no
    copy: autograd can keep it as ``.grad``); ``loss.backward()`` on CPU (an incoming 1) skips the
    pass. It is used up, so a second backward through the same graph is refused."""
    grad, ctx.grad = ctx.grad, None
    if grad is None:
        raise RuntimeError(
            "the fused KD divergence hands its precomputed gradient to the first backward; "
            "backward through it twice (retain_graph=True) is not supported: call the loss again"
        )
    if grad_output.is_cuda or grad_output.item() != 1.0:  # .item() would synchronise a GPU stream
        grad.mul_(grad_output)
    return grad.to(ctx.student_dtype)


class _KDDivergenceCPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student, teacher, temperature):
        batch = student.shape[0]
        form = _kd_rows_and_grad if student.numel() >= CPU_CHUNKED_MIN_ELEMENTS else _kd_whole_rows
        rows, grad = form(student, teacher, temperature, ctx.needs_input_grad[0])
        ctx.student_dtype, ctx.grad = student.dtype, grad
        return rows.sum() * (temperature**2 / batch)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        return _consume_gradient(ctx, grad_output), None, None


def kd_divergence_cpu(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Chunked one-pass KD with the analytic gradient. Shape: ``[B, K]``, ``[B, K]`` -> scalar (float32 or wider)."""
    return _KDDivergenceCPU.apply(student_logits, teacher_logits.detach(), float(temperature))


@functools.lru_cache(maxsize=2)
def _build_kernel(interpret: bool):
    """Define the Triton kernel (decorated now, so TRITON_INTERPRET is read at first use).

    ``triton.language`` is bound as a module global: the interpreter patches the modules it finds
    in the kernel's globals.
    """
    global tl
    import triton
    import triton.language as tl

    @triton.jit
    def kd_row_kernel(
        s_ptr,
        t_ptr,
        rows_ptr,
        grad_ptr,
        n_cols,
        stride_s,
        stride_t,
        stride_g,
        inv_temperature,
        grad_scale,
        WRITE_GRAD: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        row = tl.program_id(0).to(tl.int64)
        s_row = s_ptr + row * stride_s
        t_row = t_ptr + row * stride_t
        m_s = tl.full((), float("-inf"), tl.float32)
        m_t = tl.full((), float("-inf"), tl.float32)
        z_s = tl.zeros((), tl.float32)
        z_t = tl.zeros((), tl.float32)
        cross = tl.zeros((), tl.float32)  # sum exp(xt - m_t) * (xt - xs), rescaled with m_t
        for start in range(0, n_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < n_cols
            xs = tl.load(s_row + cols, mask=mask, other=float("-inf")).to(tl.float32) * inv_temperature
            xt = tl.load(t_row + cols, mask=mask, other=float("-inf")).to(tl.float32) * inv_temperature
            new_m_s = tl.maximum(m_s, tl.max(xs, 0))
            z_s = z_s * tl.exp(m_s - new_m_s) + tl.sum(tl.exp(xs - new_m_s), 0)
            m_s = new_m_s
            new_m_t = tl.maximum(m_t, tl.max(xt, 0))
            # masked teacher classes (-inf): e_t = 0 and no 0 * -inf; a block masked so far has m_t = -inf
            safe_m_t = tl.where(new_m_t == float("-inf"), 0.0, new_m_t)
            rescale = tl.exp(m_t - safe_m_t)
            e_t = tl.exp(xt - safe_m_t)
            diff = tl.where(xt > float("-inf"), xt - xs, 0.0)
            cross = cross * rescale + tl.sum(e_t * diff, 0)
            z_t = z_t * rescale + tl.sum(e_t, 0)
            m_t = new_m_t
        lse_s = m_s + tl.log(z_s)
        lse_t = m_t + tl.log(z_t)
        tl.store(rows_ptr + row, cross / z_t - lse_t + lse_s)
        if WRITE_GRAD:
            g_row = grad_ptr + row * stride_g
            for start in range(0, n_cols, BLOCK):
                cols = start + tl.arange(0, BLOCK)
                mask = cols < n_cols
                xs = tl.load(s_row + cols, mask=mask, other=0.0).to(tl.float32) * inv_temperature
                xt = tl.load(t_row + cols, mask=mask, other=0.0).to(tl.float32) * inv_temperature
                g = (tl.exp(xs - lse_s) - tl.exp(xt - lse_t)) * grad_scale
                tl.store(g_row + cols, g.to(grad_ptr.dtype.element_ty), mask=mask)

    return kd_row_kernel


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


class _KDDivergenceTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student, teacher, temperature):
        import triton

        student, teacher = student.contiguous(), teacher.contiguous()
        batch, classes = student.shape
        rows = torch.empty(batch, device=student.device, dtype=torch.float32)
        with_grad = ctx.needs_input_grad[0]
        grad = torch.empty_like(student, dtype=torch.float32) if with_grad else rows
        block = min(4096, triton.next_power_of_2(max(classes, 16)))
        _build_kernel(_interpreting())[(batch,)](
            student,
            teacher,
            rows,
            grad,
            classes,
            student.stride(0),
            teacher.stride(0),
            grad.stride(0) if with_grad else 0,
            1.0 / temperature,
            temperature / batch,
            WRITE_GRAD=with_grad,
            BLOCK=block,
        )
        ctx.student_dtype, ctx.grad = student.dtype, grad if with_grad else None
        return rows.sum() * (temperature**2 / batch)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        return _consume_gradient(ctx, grad_output), None, None


def kd_divergence_triton(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The Triton row kernel (CUDA, or CPU tensors under ``TRITON_INTERPRET=1``). float32 accumulation."""
    return _KDDivergenceTriton.apply(student_logits, teacher_logits.detach(), float(temperature))


def kd_path(student_logits: torch.Tensor, path: str = "auto") -> str:
    """The path a KD call takes: ``"eager"``, ``"fused"`` or ``"triton"`` (see the module docstring).

    ``path="auto"`` chooses: Triton for CUDA tensors (not float64) when Triton imports; the fused
    function for CPU tensors (every size, with or without a gradient: ``CPU_CHUNKED_MIN_ELEMENTS``
    gives the measurements); the eager reference otherwise (float64 or no Triton on CUDA, other
    devices). A forced ``"triton"`` needs Triton and CUDA tensors (or ``TRITON_INTERPRET=1``);
    ``"fused"`` runs on any device, with or without a gradient.
    """
    if path not in KD_PATHS:
        raise ValueError(f"path must be one of {', '.join(KD_PATHS)}, got {path!r}")
    if path == "triton" and not (triton_available() and (student_logits.is_cuda or _interpreting())):
        raise ValueError(
            "path='triton' needs Triton and CUDA tensors (or TRITON_INTERPRET=1), "
            f"got {student_logits.device.type} tensors with Triton {'importable' if triton_available() else 'absent'}"
        )
    if path != "auto":
        return path
    if student_logits.is_cuda and student_logits.dtype != torch.float64 and triton_available():
        return "triton"  # one launch per call against the reference's ~20 kernels; no CUDA crossover measured yet
    if student_logits.device.type == "cpu":
        return "fused"
    return "eager"


def fused_kd_divergence(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, path: str = "auto"
) -> torch.Tensor | None:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, batchmean, with the analytic student gradient, on the
    path ``kd_path`` gives; ``None`` where that path is the eager reference (the caller runs it).

    Shape: student_logits, teacher_logits ``[B, K]`` -> scalar.
    """
    chosen = kd_path(student_logits, path)
    if chosen == "triton":
        return kd_divergence_triton(student_logits, teacher_logits, temperature)
    if chosen == "fused":
        return kd_divergence_cpu(student_logits, teacher_logits, temperature)
    return None
