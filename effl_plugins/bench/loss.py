"""Loss benchmark: kd, dkd, dist, soft_target_ce, forward and forward+backward, against the eager
reference and ``torch.compile`` of it (full run only).

Cases: the product B in {256, 1024, 4096} x C in {10, 100, 1000, 21843} x {float32, bfloat16};
``--quick`` keeps three (the KD target shape B=1024, C=1000 float32 among them). Bytes that must
move: forward reads student and teacher once (``2 B C`` elements); forward+backward also writes the
student gradient (``3 B C``).

Bench ``loss-small`` (:func:`run_small_loss_bench`, run by name): KD alone on :data:`SMALL_CASES`, the batches
of 64 and 256 at 10, 100, 1000 and 21843 classes (float32), against its eager reference, no ``torch.compile``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import torch

from .recorder import Recorder, error_reason
from .timing import cache_bytes, rotation_count

__all__ = ["LOSSES", "LOSS_KWARGS", "SMALL_CASES", "loss_cases", "run_loss_bench", "run_small_loss_bench"]

LOSSES = ("kd", "dkd", "dist", "soft_target_ce")
LOSS_KWARGS: dict[str, dict[str, Any]] = {"kd": {"temperature": 4.0}}
#: Losses whose call needs class ids (dkd splits target and non-target classes); the others run on logits alone.
NEEDS_TARGETS = frozenset({"dkd"})
FULL_PRODUCT = {"batch": (256, 1024, 4096), "classes": (10, 100, 1000, 21843), "dtype": ("float32", "bfloat16")}
QUICK_CASES = (
    {"batch": 1024, "classes": 1000, "dtype": "float32"},
    {"batch": 256, "classes": 100, "dtype": "float32"},
    {"batch": 256, "classes": 1000, "dtype": "bfloat16"},
)

#: ``loss-small``: KD at small batches, from a 10-class head to ImageNet-21k's (the CPU KD targets' cases)
SMALL_CASES = tuple(
    {"batch": batch, "classes": classes, "dtype": "float32"}
    for batch in (64, 256)
    for classes in (10, 100, 1000, 21843)
)


def loss_cases(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [dict(c) for c in QUICK_CASES]
    keys = list(FULL_PRODUCT)
    return [dict(zip(keys, values)) for values in itertools.product(*FULL_PRODUCT.values())]


def _implementations(
    name: str, module: torch.nn.Module, compile_peers: bool, batch: int, classes: int, device
) -> Iterable[tuple[str, Callable, str]]:
    """(impl, callable(s, t) -> scalar loss, note) rows for one loss."""
    if name == "kd":
        from ..losses.functional import kd_divergence_reference

        temperature = module.temperature
        yield (
            "effl",
            lambda s, t: module(s, t)["loss"],
            "fused: analytic gradient (Triton on CUDA; on CPU chunks of rows, fused_kd._kd_cpu)",
        )

        def reference(s, t):
            return kd_divergence_reference(s, t, temperature)
    else:
        targets = (
            torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(1)).to(device)
            if name in NEEDS_TARGETS
            else None
        )
        yield (
            "effl",
            lambda s, t: module(s, t, targets)["loss"],
            "eager" + (" (with class-id targets)" if targets is not None else ""),
        )

        def reference(s, t):
            return module(s, t, targets)["loss"]

    if name == "kd":
        yield "eager reference", reference, "log_softmax + kl_div, autograd"
    if compile_peers:
        yield "torch.compile", torch.compile(reference, dynamic=False), "torch.compile of the eager reference"


def _step(fn: Callable, backward: bool) -> Callable:
    if not backward:

        def forward(s, t):
            with torch.no_grad():
                return fn(s, t)

        return forward

    def forward_backward(s, t):
        s.grad = None
        fn(s, t).backward()

    return forward_backward


def run_loss_bench(
    recorder: Recorder,
    *,
    quick: bool,
    cases: list[dict] | None = None,
    losses: Iterable[str] | None = None,
    compile_peers: bool | None = None,
) -> None:
    """``losses``: any registered losses (default: :data:`LOSSES`); KD is also timed against its eager reference,
    and against ``torch.compile`` of it when ``compile_peers`` (default: the full run)."""
    import effl_plugins as ep

    losses = LOSSES if losses is None else tuple(losses)
    device = recorder.device
    compile_peers = not quick if compile_peers is None else compile_peers
    available = set(ep.list_losses())
    for case in cases if cases is not None else loss_cases(quick):
        batch, classes, dtype = case["batch"], case["classes"], getattr(torch, case["dtype"])
        element = torch.empty((), dtype=dtype).element_size()
        buffers = rotation_count(2 * batch * classes * element, cache_bytes(device))
        gen = torch.Generator(device="cpu").manual_seed(0)
        pairs = [
            (
                (torch.randn(batch, classes, generator=gen) * 3).to(device, dtype),
                (torch.randn(batch, classes, generator=gen) * 3).to(device, dtype),
            )
            for _ in range(buffers)
        ]
        grad_pairs = [(s.clone().requires_grad_(True), t) for s, t in pairs]
        for name in losses:
            if name not in available:
                recorder.skip(name, "effl", case, "not registered in this installation")
                continue
            try:
                module = ep.create_loss(name, **LOSS_KWARGS.get(name, {})).to(device)
                implementations = list(_implementations(name, module, compile_peers, batch, classes, device))
                implementations[0][1](
                    *pairs[0]
                )  # a loss that cannot run on (student, teacher) logits is reported, not fatal
            except Exception as exc:
                recorder.skip(name, "effl", case, error_reason(exc))
                continue
            for backward in (False, True):
                mode = "fwd+bwd" if backward else "fwd"
                moved = (3 if backward else 2) * batch * classes * element
                recorder.measure_group(
                    [
                        dict(
                            op=name,
                            impl=impl,
                            semantics="deterministic",
                            mode=mode,
                            case=case,
                            items=batch,
                            nbytes=moved,
                            fn=_step(fn, backward),
                            inputs=grad_pairs if backward else pairs,
                            note=note,
                        )
                        for impl, fn, note in implementations
                    ]
                )
        del pairs, grad_pairs


def run_small_loss_bench(recorder: Recorder, *, quick: bool, cases: list[dict] | None = None) -> None:
    """Bench ``loss-small``: KD on :data:`SMALL_CASES` (or ``cases``), forward and forward+backward, the loss as
    dispatched (``effl``: ``KDLoss``, checks included) against the eager reference; no ``torch.compile`` peer."""
    run_loss_bench(
        recorder,
        quick=quick,
        cases=[dict(c) for c in (SMALL_CASES if cases is None else cases)],
        losses=("kd",),
        compile_peers=False,
    )
