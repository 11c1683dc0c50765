"""Fused knowledge-distillation divergence (Hinton et al. 2015) with the analytic gradient.

``KD = T^2 / B * sum_rows KL(softmax(t/T) || softmax(s/T))`` and its student gradient
``dKD/ds = T / B * (softmax(s/T) - softmax(t/T))`` are produced in the same pass over each row,
so backward is a single multiply by the incoming scalar gradient instead of replaying the
log-softmax / KL graph. Two implementations, one contract (equal to ``kd_divergence_reference``
to float32 rounding, forward and backward):

- CPU: a ``torch.autograd.Function`` in two forms by shape (``_cpu_form``, ``SMALL_CALL_ELEMENTS``): torch's
  log-softmax over whole rows, in place, and one dot product for the KL (eleven ops); or chunks of rows sized
  for the L2 cache (``_kd_cpu``), each row shifted by its maximum or its first logit, one ``exp`` per element
  per input and two dot products (fifteen ops per chunk, no elementwise log). Both write into scratch buffers
  kept between calls and allocate only the gradient; neither has a graph to replay in backward.
- CUDA: a Triton kernel, one program per row, that reads the student and teacher rows and writes
  the row's KL and the row's gradient (online max / log-sum-exp over column blocks).

``kd_path`` picks one of three paths for a call (``path="auto"``), or checks a forced one:
``"triton"`` for CUDA tensors when Triton imports; ``"fused"`` (the CPU function) for CPU tensors,
at every size (measured faster than the eager reference at each: ``benchmarks/RESULTS.md``, "KD at small sizes");
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

#: Logits per chunk of rows on the CPU path, per torch thread (512 KiB of float32 per plane): a chunk's five
#: planes stay in a core's L2 cache between its ops. Measured against 2^16 to 2^20 per thread (forward with a
#: gradient, wall time): one thread, 2^17 took 0.66 of 2^20's time at 64x21843, 0.77 at 256x21843, 0.87 at
#: 256x1000, and was the fastest at each; two threads, 0.83-0.97 (``python benchmarks/bench_loss_small.py
#: --chunks``, ``benchmarks/RESULTS.md``, "KD at small sizes").
CHUNK_ELEMENTS_PER_THREAD = 1 << 17
#: The most logits per chunk whatever the thread count: the scratch kept between calls (three planes per class
#: count, ``_scratch``) stays within 24 MiB of float32 per class count.
CHUNK_ELEMENTS_MAX = 1 << 21

#: Below how many logits (``B * K``) a CPU call is small (``_cpu_form``): then torch's log-softmax over whole rows
#: (``_kd_whole_rows``, eleven ops) from ``CPU_WHOLE_ROWS_MIN_CLASSES`` classes, and below that the chunks of
#: ``_kd_cpu`` with each row shifted by its maximum; from it, ``_kd_cpu`` with each row shifted by its first
#: logit, which saves a pass over the rows and costs a fixed ~4 us of strided ops. Measured (one thread, 801
#: interleaved calls, forward with a gradient), first logit / maximum: 1.08 at 64x100, 1.05 at 64x256 and
#: 16x1000, 1.01 at 64x512, 0.95 at 256x256 and 64x1000, 0.85 at 64x21843; KD forward+backward, this rule
#: against the rule of whole rows up to 1M logits at 16-63 classes and up to 40,000 from 64, thread time, two
#: alternating runs each: 256x16 114-121 / 100-101 us, 64x100 109 / 99-104 us, 2048x16 193-207 /
#: 198-205 us, 8192x16 636-686 / 657-681 us, 4096x48 744-836 / 889-938 us.
SMALL_CALL_ELEMENTS = 1 << 15
#: Classes from which a small call takes the whole-rows form: torch's log-softmax is slow per row below
#: (chunks / whole rows 0.50-0.74 at 256 and 1024 rows of 10 and 12 classes, ``benchmarks/RESULTS.md``).
CPU_WHOLE_ROWS_MIN_CLASSES = 16

_FLOOR = {dtype: torch.finfo(dtype).min for dtype in (torch.float32, torch.float64)}


def _compute_dtype(student: torch.Tensor) -> torch.dtype:
    return torch.promote_types(student.dtype, torch.float32)


class _Scratch:
    """The buffers of one chunk shape, and views of them made once: three ``[rows, classes]`` planes
    (``u_s``, ``u_t``, ``d``), the two row shifts, the two row sums ``z`` and their logarithms, and the
    constants of the last call (``gs = [T / B, -T / B]`` as a column, ``sign = [c] * rows + [-c] * rows``
    with ``c = T^2 / B``). ``part(rows)``: the same for fewer rows (a last, partial chunk), on the first
    rows of these planes."""

    def __init__(self, rows: int, classes: int, dtype: torch.dtype, device: torch.device, planes=None):
        if planes is None:
            planes = torch.empty((3, rows, classes), dtype=dtype, device=device)
        self.planes, self.u = planes, planes[:2]
        self.u_s, self.u_t, self.d = planes.unbind(0)
        self.p_t_flat = self.u_t.view(-1)
        self.shift = torch.empty((2, rows, 1), dtype=dtype, device=device)
        self.shift_s, self.shift_t = self.shift.unbind(0)
        self.z = torch.empty((2, rows), dtype=dtype, device=device)
        self.z_flat = self.z.view(-1)
        self.z_s_col, self.z_t_col = self.z.unsqueeze(-1).unbind(0)
        self.log_z = torch.empty(2 * rows, dtype=dtype, device=device)
        self.gs = torch.empty((2, 1), dtype=dtype, device=device)
        self.sign = torch.empty(2 * rows, dtype=dtype, device=device)
        self.rows, self.constants, self.parts = rows, None, {}

    def set_constants(self, grad_scale: float, loss_scale: float) -> None:
        if self.constants != (grad_scale, loss_scale):
            self.gs[0], self.gs[1] = grad_scale, -grad_scale
            self.sign[: self.rows].fill_(loss_scale)
            self.sign[self.rows :].fill_(-loss_scale)
            self.constants = (grad_scale, loss_scale)

    def part(self, rows: int) -> _Scratch:
        if rows == self.rows:
            return self
        part = self.parts.pop(rows, None)
        if part is None:
            planes = self.planes[:, :rows]
            part = _Scratch(rows, planes.shape[-1], planes.dtype, planes.device, planes)
            if len(self.parts) >= _SCRATCH_PARTS:
                del self.parts[next(iter(self.parts))]
        self.parts[rows] = part  # the most recent last
        return part


_SCRATCH = threading.local()
_SCRATCH_SHAPES = 4  # class counts (with dtype and device) whose scratch is kept, per thread
_SCRATCH_PARTS = 8  # row counts below the full one whose views are kept, per scratch


def _scratch(rows: int, classes: int, dtype: torch.dtype, device: torch.device) -> _Scratch:
    """Scratch for ``rows`` rows of ``classes``, kept per thread between calls so that repeated calls neither
    allocate nor pay fresh page faults: one set of planes per class count (the most rows asked for so far: at
    most ``_chunk_elements()`` elements per plane, or one row where a row is longer), fewer rows on its first rows
    (a last partial chunk, a last smaller batch); the last few class counts."""
    cache = getattr(_SCRATCH, "shapes", None)
    if cache is None:
        cache = _SCRATCH.shapes = {}
    key = (classes, dtype, device)
    scratch = cache.pop(key, None)
    if scratch is None or scratch.rows < rows:
        if scratch is None and len(cache) >= _SCRATCH_SHAPES:
            del cache[next(iter(cache))]
        scratch = _Scratch(rows, classes, dtype, device)
    cache[key] = scratch  # the most recent last
    return scratch.part(rows)


def _chunk_elements() -> int:
    """Logits per chunk of rows: ``CHUNK_ELEMENTS_PER_THREAD`` for each of torch's threads, at most
    ``CHUNK_ELEMENTS_MAX``."""
    return min(CHUNK_ELEMENTS_PER_THREAD * torch.get_num_threads(), CHUNK_ELEMENTS_MAX)


def _masked_dot(d: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(d * weights)`` over every element, where ``d`` is the teacher's (log-)values less the student's
    and ``weights`` are 0 at masked teacher classes (``d = -inf`` there, and ``0 * -inf`` is NaN). Such a
    class makes the sum non-finite: then ``d`` is raised to the dtype's lowest finite value, which gives
    exactly 0 there and changes no finite entry, and the sum is taken again. On the CPU one read of a scalar
    instead of a pass over the teacher on every call; on any other device (a forced ``path="fused"``) the pass
    always, so that nothing waits for the device. Non-finite inputs stay non-finite (``clamp`` keeps NaN and
    ``+inf``)."""
    d_flat = d.view(-1)
    if d.device.type != "cpu":
        d.clamp_min_(_FLOOR[d.dtype])
        return torch.dot(d_flat, weights)
    total = torch.dot(d_flat, weights)
    if not math.isfinite(total.item()):
        d.clamp_min_(_FLOOR[d.dtype])
        total = torch.dot(d_flat, weights)
    return total


def _kd_chunk(s, t, d, scratch: _Scratch, temperature: float, anchored: bool, with_grad: bool):
    """One chunk's share of the batchmean KD (a 0-dim tensor); ``d`` (the chunk's rows of the gradient, or
    scratch) ends as the gradient where ``with_grad``. Each row is shifted before ``exp`` by its first logit
    (``anchored``, CPU tensors only: a strided read of one column) or by its maximum (a pass over the row);
    ``None`` where the anchored value is not finite (the caller shifts by the maxima). See ``_kd_cpu``.
    """
    scale = 1.0 / temperature
    if anchored:
        torch.mul(s.narrow(1, 0, 1), -scale, out=scratch.shift_s)
        torch.mul(t.narrow(1, 0, 1), -scale, out=scratch.shift_t)
    else:
        torch.amax(s, -1, keepdim=True, out=scratch.shift_s)
        torch.amax(t, -1, keepdim=True, out=scratch.shift_t)
        scratch.shift.mul_(-scale)
    torch.add(scratch.shift_s, s, alpha=scale, out=scratch.u_s)
    torch.add(scratch.shift_t, t, alpha=scale, out=scratch.u_t)
    torch.sub(scratch.u_t, scratch.u_s, out=d)
    torch.sum(scratch.u.exp_(), -1, out=scratch.z)
    torch.log(scratch.z_flat, out=scratch.log_z)
    torch.div(scratch.gs, scratch.z, out=scratch.z)  # [T / B / z_s, -T / B / z_t]
    scratch.u_t.mul_(scratch.z_t_col)  # -T / B * p_t
    cross = _masked_dot(d, scratch.p_t_flat)  # -T / B * sum(p_t (u_t - u_s))
    value = torch.dot(scratch.log_z, scratch.sign).add_(cross, alpha=-temperature)
    if anchored and not math.isfinite(value.item()):
        return None
    if with_grad:
        torch.addcmul(scratch.u_t, scratch.u_s, scratch.z_s_col, out=d)
    return value


def _kd_cpu(student, teacher, temperature: float, with_grad: bool, anchored: bool = True):
    """The batchmean KD (a scalar) and, if asked, its student gradient ``T / B * (softmax(s/T) -
    softmax(t/T))`` [B, K], both in the compute dtype, in chunks of rows (``_chunk_elements``).

    With a shift ``c`` per row, ``u = x / T - c``, ``e = exp(u)`` and ``z = sum e`` per row,
    ``softmax(x/T) = e / z`` and ``log softmax(x/T) = u - ln z``, so

        ``KL_row = sum(p_t (u_t - u_s)) - ln z_t + ln z_s``.

    Per chunk (``_kd_chunk``): the shifted scalings, the difference ``d = u_t - u_s``, one ``exp`` over both
    planes and one row sum, the logarithms of the ``2 * rows`` sums, the teacher plane scaled in place to
    ``-T / B * p_t``, two dot products for the value, one ``addcmul`` for the gradient, written over ``d``. No
    allocation but the gradient and a few scalars.

    The shift is each row's first logit (``c = x_0 / T``) from ``SMALL_CALL_ELEMENTS`` logits: then
    ``z >= 1``, so nothing underflows, and no pass over the row looks for its maximum. Where that overflows (a
    logit more than ~88 T above its row's first) or a first teacher logit is masked, the chunk's value is not
    finite and the chunk is computed again shifted by its rows' maxima (``z`` in ``[1, K]``), as it always is
    below that size, with ``anchored=False`` and on devices other than the CPU (a forced ``path="fused"``),
    where reading the value would wait for the device.
    """
    dtype = _compute_dtype(student)
    batch, classes = student.shape
    grad = torch.empty((batch, classes), dtype=dtype, device=student.device) if with_grad else None
    step = min(batch, max(1, _chunk_elements() // max(classes, 1)))
    student, teacher = student.to(dtype), teacher.to(dtype)
    anchored = anchored and student.device.type == "cpu" and batch * classes >= SMALL_CALL_ELEMENTS
    total = None
    full = _scratch(step, classes, dtype, student.device)
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        scratch = full if stop - start == step else _scratch(stop - start, classes, dtype, student.device)
        scratch.set_constants(temperature / batch, temperature**2 / batch)
        if step < batch:
            s, t = student[start:stop], teacher[start:stop]
            d = grad[start:stop] if grad is not None else scratch.d
        else:
            s, t, d = student, teacher, grad if grad is not None else scratch.d
        part = _kd_chunk(s, t, d, scratch, temperature, anchored, with_grad)
        if part is None:
            part = _kd_chunk(s, t, d, scratch, temperature, False, with_grad)
        total = part if total is None else total.add_(part)
    return total, grad


def _kd_whole_rows(student, teacher, temperature: float, with_grad: bool):
    """``_kd_cpu``'s result for small inputs in fewer ops, with torch's log-softmax over whole rows
    (one kernel each, in place) instead of the shifts, ``exp`` and row sums: ``KL = sum p_t (log p_t -
    log p_s)`` as one dot product (``_masked_dot``: masked teacher classes) and the gradient
    ``T / B * (p_s - p_t)`` from the same log-probabilities; eleven ops, no allocation but the gradient and a
    few scalars."""
    dtype = _compute_dtype(student)
    batch, classes = student.shape
    scratch = _scratch(batch, classes, dtype, student.device)
    scale, grad_scale = 1.0 / temperature, temperature / batch
    student, teacher = student.to(dtype), teacher.to(dtype)
    grad = torch.empty((batch, classes), dtype=dtype, device=student.device) if with_grad else None
    d = grad if grad is not None else scratch.d
    log_s = torch.log_softmax(torch.mul(student, scale, out=scratch.u_s), -1, out=scratch.u_s)
    log_t = torch.log_softmax(torch.mul(teacher, scale, out=scratch.u_t), -1, out=scratch.u_t)
    torch.sub(log_t, log_s, out=d)
    p_t = log_t.exp_().mul_(-grad_scale)  # -T / B * p_t
    total = _masked_dot(d, scratch.p_t_flat).mul_(-temperature)
    if grad is not None:
        torch.add(p_t, log_s.exp_(), alpha=grad_scale, out=grad)
    return total, grad


def _consume_gradient(ctx, grad_output: torch.Tensor):
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
    return grad.to(ctx.student_dtype), None, None


#: ``create_graph=True``: the gradient is a constant, so a second derivative through it is refused when asked for.
_consume_gradient_once = once_differentiable(_consume_gradient)


def _backward(ctx, grad_output):
    """The backward of both functions. ``once_differentiable``'s no-grad context only matters under
    ``create_graph=True`` (otherwise autograd runs backward with grad mode off), so only then is it paid."""
    if torch.is_grad_enabled():
        return _consume_gradient_once(ctx, grad_output)
    return _consume_gradient(ctx, grad_output)


def _cpu_form(batch: int, classes: int):
    """The CPU function's form for a ``[batch, classes]`` call (see ``SMALL_CALL_ELEMENTS``)."""
    if classes >= CPU_WHOLE_ROWS_MIN_CLASSES and batch * classes < SMALL_CALL_ELEMENTS:
        return _kd_whole_rows
    return _kd_cpu


class _KDDivergenceCPU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student, teacher, temperature):
        form = _cpu_form(*student.shape)
        loss, grad = form(student, teacher, temperature, ctx.needs_input_grad[0])
        ctx.student_dtype, ctx.grad = student.dtype, grad
        return loss

    backward = staticmethod(_backward)


def kd_divergence_cpu(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The CPU function: KD with the analytic gradient, over whole rows or in chunks of rows (``_cpu_form``).
    Shape: ``[B, K]``, ``[B, K]`` -> scalar (float32 or wider)."""
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

    backward = staticmethod(_backward)


def kd_divergence_triton(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The Triton row kernel (CUDA, or CPU tensors under ``TRITON_INTERPRET=1``). float32 accumulation."""
    return _KDDivergenceTriton.apply(student_logits, teacher_logits.detach(), float(temperature))


def kd_path(student_logits: torch.Tensor, path: str = "auto") -> str:
    """The path a KD call takes: ``"eager"``, ``"fused"`` or ``"triton"`` (see the module docstring).

    ``path="auto"`` chooses: Triton for CUDA tensors (not float64) when Triton imports; the fused
    function for CPU tensors (every size, with or without a gradient: measured faster than the eager
    reference at each, ``benchmarks/RESULTS.md``, "KD at small sizes"); the eager reference otherwise
    (float64 or no Triton on CUDA, other devices). A forced ``"triton"`` needs Triton and CUDA tensors (or
    ``TRITON_INTERPRET=1``); ``"fused"`` runs on any device, with or without a gradient.
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
