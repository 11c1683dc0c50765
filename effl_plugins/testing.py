"""Conformance checks every registered component must pass, built-in or third-party.

Plugin authors run the same checks on their own components::

    from effl_plugins.testing import check_augmentation, check_loss
    check_augmentation("my_blur")           # by registered name, or pass an instance
    check_loss("my_kd")

Each check raises ``AssertionError`` with a message saying what broke.

Or the whole suite over a distribution's components, as one line in its own test file::

    from effl_plugins.testing import conformance_tests

    test_conformance = conformance_tests("my-distribution")   # one pytest case per component

A component whose defaults cannot be checked (a mixing op needs a class count, a strategy a
teacher) declares the arguments the checks build it with, as a class attribute::

    class MyMix(BatchAugmentation):
        conformance_kwargs: ClassVar[dict[str, Any]] = {"num_classes": 10}
"""

from __future__ import annotations

import inspect
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "check_augmentation",
    "check_image_augmentation",
    "check_loss",
    "check_strategy",
    "small_digits",
    "sample_batch",
    "sample_logits",
    "conformance_kwargs",
    "ConformanceCase",
    "conformance_suite",
    "conformance_cases",
    "conformance_tests",
    "STRATEGY_CHECK_DEFAULTS",
    "STRATEGY_CHECK_DATA",
    "LEARNED_OVER_CHANCE",
    "LEARNED_LOSS_DROP",
]

#: What every strategy is checked with (the arguments its constructor accepts), before its own
#: ``conformance_kwargs``: small enough for a test run on a CPU.
STRATEGY_CHECK_DEFAULTS: dict[str, Any] = {
    "model": "test_resnet",
    "epochs": 3,
    "batch_size": 16,
    "lr": 3e-3,
    "sched": "none",
}
#: The digits ``check_strategy`` trains on by default (``small_digits`` sizes): a few seconds a run.
STRATEGY_CHECK_DATA: dict[str, int] = {"labeled": 100, "test": 100, "unlabeled": 128}
#: A strategy learned when its final accuracy is at least this many times chance (1 / classes) ...
LEARNED_OVER_CHANCE = 2.0
#: ... or when every training run it wrote lowered its epoch-mean training loss by this fraction.
LEARNED_LOSS_DROP = 0.1
_FAMILIES = ("augmentations", "losses", "strategies")


def sample_batch(dtype: torch.dtype = torch.uint8, batch: int = 6, size: int = 24, seed: int = 0) -> torch.Tensor:
    """A deterministic ``[batch, 3, size, size]`` test batch with structure (gradients, edges) and noise."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)
    base = (ramp[None, :] * ramp[:, None])[None, None].expand(batch, 3, size, size)
    noise = torch.rand(batch, 3, size, size, generator=g)
    images = (0.6 * base + 0.4 * noise).clamp(0, 1)
    return (images * 255).round().to(torch.uint8) if dtype == torch.uint8 else images.to(dtype)


def sample_logits(batch: int = 8, classes: int = 10, scale: float = 3.0, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, classes, generator=g) * scale).to(dtype)


def _targets_for(aug: Any, batch: int) -> torch.Tensor | None:
    if not getattr(aug, "mixes_samples", False):
        return None
    return torch.arange(batch) % int(getattr(aug, "num_classes", 10))


def _build(family_kwargs: dict, name_or_obj: Any, backend: str = "batch"):
    import effl_plugins as ep

    if isinstance(name_or_obj, str):
        return ep.create_augmentation(name_or_obj, backend=backend, **family_kwargs)
    return name_or_obj


def check_augmentation(aug: Any, device: str | torch.device = "cpu", **kwargs: Any) -> None:
    """Batch backend contract on uint8 and float32 input.

    dtype, device and shape kept (unless the op sets ``size``); input never modified in place;
    values stay in range; per-sample randomness (identical inputs give different outputs over a
    few draws); bit-reproducible under a ``torch.Generator``; ``last_params`` replays; for ops
    that do not mix samples, the batch result equals applying each sample's replayed parameters alone; and an
    op declaring ``point_op = True`` is a per-sample table of the input values.
    """
    aug = _build(kwargs, aug)
    for dtype in (torch.uint8, torch.float32):
        images = sample_batch(dtype).to(device)
        targets = _targets_for(aug, len(images))
        original = images.clone()
        out, _ = aug(images, targets, generator=torch.Generator(device="cpu").manual_seed(1))
        assert torch.equal(images, original), f"{aug!r} modified its input in place ({dtype})"
        assert out.dtype == images.dtype, f"{aug!r} changed dtype {images.dtype} -> {out.dtype}"
        assert out.device == images.device, f"{aug!r} changed device {images.device} -> {out.device}"
        if getattr(aug, "size", None) is None:
            assert out.shape == images.shape, f"{aug!r} changed shape {tuple(images.shape)} -> {tuple(out.shape)}"
        if dtype.is_floating_point:
            assert out.min() >= 0 and out.max() <= 1, f"{aug!r} left the [0, 1] range on float input"
        params = aug.last_params
        again, _ = aug(images, targets, generator=torch.Generator(device="cpu").manual_seed(1))
        assert torch.equal(out, again), f"{aug!r} is not reproducible under a seeded generator ({dtype})"
        replay, _ = aug(images, targets, params=params)
        assert torch.equal(out, replay), f"{aug!r}: replaying last_params does not reproduce the output ({dtype})"
        if not getattr(aug, "mixes_samples", False):
            _check_per_sample_equals_batch(aug, images, out, params)
        if getattr(aug, "point_op", False) and dtype == torch.uint8:
            _check_point_op(aug, images, out, params)
    _check_per_sample_randomness(aug, device)


def _check_point_op(aug, images, out, params) -> None:
    """An op declaring ``point_op = True`` must be its table: run on the ``[B, C, 1, 256]`` ramp with the same
    params, then looked up per pixel, it gives the same batch (``compose`` relies on it)."""
    from .augment.fused import apply_lut, identity_luts

    ramp = identity_luts(*images.shape[:2], images.device).unsqueeze(2)
    table, _ = aug(ramp, None, params=params)
    assert torch.equal(apply_lut(images, table.squeeze(2)), out), (
        f"{aug!r} declares point_op = True, but its output is not a per-sample, per-channel table of the input "
        "values (the ramp 0..255 run through it does not reproduce the batch)"
    )


def _check_per_sample_equals_batch(aug, images, out, params) -> None:
    from .augment.base import params_for_sample

    for i in range(len(images)):
        single, _ = aug(images[i : i + 1], None, params=params_for_sample(params, i))
        assert torch.equal(single[0], out[i]), f"{aug!r}: sample {i} alone differs from its result in the batch"


def _check_per_sample_randomness(aug, device) -> None:
    one = sample_batch(torch.uint8, batch=1)
    images = one.expand(16, -1, -1, -1).contiguous().to(device)
    targets = _targets_for(aug, len(images))
    for seed in (100, 101, 102, 103):  # four draws, away from the seed (1) of the other checks
        out, mixed = aug(images, targets, generator=torch.Generator().manual_seed(seed))
        if _rows_differ(out):
            return
        # identical images mix into themselves: each row's sorted soft target holds that sample's mixing weights
        if targets is not None and _rows_differ(mixed.sort(dim=1).values):
            return
    assert getattr(aug, "deterministic", False), (
        f"{aug!r}: 16 identical inputs gave 16 identical outputs in 4 draws: randomness is not per sample"
    )


def _rows_differ(rows: torch.Tensor) -> bool:
    return any(not torch.equal(rows[0], row) for row in rows[1:])


def check_image_augmentation(aug: Any, **kwargs: Any) -> None:
    """Image backend contract: ``H x W x 3`` uint8 in, uint8 out, input untouched, ``rng`` seeds it,
    ``last_params`` replays."""
    aug = _build(kwargs, aug, backend="image")
    img = sample_batch(torch.uint8, batch=1)[0].permute(1, 2, 0).numpy().copy()
    original = img.copy()
    out = aug(img, rng=np.random.default_rng(3))
    assert np.array_equal(img, original), f"{aug!r} modified its input in place"
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8, (
        f"{aug!r} must return a uint8 ndarray, got {type(out)} {getattr(out, 'dtype', '')}"
    )
    if getattr(aug, "size", None) is None:
        assert out.shape == img.shape, f"{aug!r} changed shape {img.shape} -> {out.shape}"
    again = aug(img, rng=np.random.default_rng(3))
    assert np.array_equal(out, again), f"{aug!r} is not reproducible under a seeded rng"
    assert np.array_equal(aug(img, params=aug.last_params), out), f"{aug!r}: replaying last_params differs"


def check_loss(loss: Any, batch: int = 8, classes: int = 10, **kwargs: Any) -> None:
    """Loss contract: a dict with a finite scalar ``"loss"``; gradients reach the student and never
    the teacher; finite on extreme logits (±1e4) and on bf16/fp16 inputs; inputs untouched."""
    import effl_plugins as ep

    loss = ep.create_loss(loss, **kwargs) if isinstance(loss, str) else loss
    student = sample_logits(batch, classes, seed=1).requires_grad_(True)
    teacher = sample_logits(batch, classes, seed=2).requires_grad_(True)
    targets = torch.arange(batch) % classes
    s0, t0 = student.detach().clone(), teacher.detach().clone()
    for with_targets in (True, False):
        out = loss(student, teacher, targets if with_targets else None)
        assert isinstance(out, dict) and "loss" in out, (
            f"{loss!r} must return a dict with a 'loss' entry, got {type(out).__name__}"
        )
        for key, value in out.items():
            assert isinstance(value, torch.Tensor) and value.ndim == 0, (
                f"{loss!r}: out[{key!r}] must be a scalar tensor"
            )
        assert torch.isfinite(out["loss"]), f"{loss!r}: loss is not finite: {out['loss']}"
        student.grad = teacher.grad = None
        out["loss"].backward()
        assert student.grad is not None and torch.isfinite(student.grad).all(), (
            f"{loss!r}: no finite gradient reaches the student"
        )
        assert teacher.grad is None or not teacher.grad.any(), f"{loss!r}: gradient leaked into the teacher logits"
    assert torch.equal(student.detach(), s0) and torch.equal(teacher.detach(), t0), f"{loss!r} modified its inputs"
    extreme = torch.tensor([[1e4, -1e4] * (classes // 2) + [0.0] * (classes % 2)]).repeat(batch, 1)
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        s = extreme.flip(-1) if dtype == torch.float32 else sample_logits(batch, classes, seed=3) * 10
        s = s.to(dtype).requires_grad_(True)
        t = extreme.to(dtype) if dtype == torch.float32 else sample_logits(batch, classes, seed=4).to(dtype) * 10
        out = loss(s, t, targets)
        out["loss"].backward()
        assert torch.isfinite(out["loss"].float()), f"{loss!r}: non-finite loss on {dtype} / extreme logits"
        assert torch.isfinite(s.grad.float()).all(), f"{loss!r}: non-finite gradient on {dtype} / extreme logits"


def small_digits(labeled: int = 20, test: int = 40, unlabeled: int = 60, image_size: int = 32) -> Any:
    """A small slice of the embedded digits through the engine's transforms (whole image, no flip)."""
    from .data import DataConfig, build_data

    config = DataConfig((3, image_size, image_size), "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1.0)
    data = build_data("digits", config, num_labeled=labeled, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0)
    data.test = data.test.subset(range(test))
    data.unlabeled = data.unlabeled.subset(range(unlabeled))
    data.unlabeled_eval = data.unlabeled_eval.subset(range(unlabeled))
    data.hidden_targets = data.hidden_targets[:unlabeled]
    return data


def check_strategy(strategy: Any, data: Any = None, **kwargs: Any) -> dict:
    """Strategy contract: ``run(data, out_dir=...)`` returns a summary with accuracies in [0, 1] and
    ``epochs``, writes ``summary.json``, learns, and a second run with the same seed gives the same summary.

    Learning: the final accuracy reaches ``LEARNED_OVER_CHANCE`` times chance (1 / the data's classes),
    or every training run written under ``out_dir`` (each ``metrics.jsonl``, at least two epochs) lowered
    its training loss from the first epoch to the last by ``LEARNED_LOSS_DROP``.

    ``data`` defaults to ``small_digits(**STRATEGY_CHECK_DATA)``; ``kwargs`` go to the strategy.
    """
    import json
    from pathlib import Path

    import effl_plugins as ep

    if data is None:
        data = small_digits(**STRATEGY_CHECK_DATA)
    make = (lambda: ep.create_strategy(strategy, **kwargs)) if isinstance(strategy, str) else (lambda: strategy)
    summaries = []
    for _ in range(2):
        with tempfile.TemporaryDirectory() as out_dir:
            summary = make().run(data, out_dir=out_dir)
            written = json.loads((Path(out_dir) / "summary.json").read_text())
            losses = {
                str(path.relative_to(out_dir)): [json.loads(row)["train_loss"] for row in path.read_text().splitlines()]
                for path in sorted(Path(out_dir).rglob("metrics.jsonl"))
            }
        for key in ("best_accuracy", "final_accuracy", "epochs"):
            assert key in summary and key in written, f"{strategy!r}: summary lacks {key!r}: {sorted(summary)}"
        for key in ("best_accuracy", "final_accuracy"):
            assert 0.0 <= summary[key] <= 1.0 and not math.isnan(summary[key]), (
                f"{strategy!r}: {key}={summary[key]} outside [0, 1]"
            )
        _check_learned(strategy, summary["final_accuracy"], 1.0 / data.num_classes, losses)
        summaries.append({k: summary[k] for k in ("best_accuracy", "final_accuracy", "epochs")})
    assert summaries[0] == summaries[1], f"{strategy!r}: two runs under one seed differ: {summaries}"
    return summary


def _check_learned(strategy: Any, accuracy: float, chance: float, losses: dict[str, list[float]]) -> None:
    """``check_strategy``'s learning rule; ``losses``: ``{metrics file: train_loss per epoch}``."""
    if accuracy >= LEARNED_OVER_CHANCE * chance:
        return
    lowered = {
        name: len(values) >= 2 and values[-1] <= (1.0 - LEARNED_LOSS_DROP) * values[0]
        for name, values in losses.items()
    }
    assert lowered and all(lowered.values()), (
        f"{strategy!r} did not learn: final accuracy {accuracy:.3f} < {LEARNED_OVER_CHANCE:g} x chance "
        f"({LEARNED_OVER_CHANCE * chance:.3f}), and its training loss per epoch (first -> last) did not fall by "
        f"{LEARNED_LOSS_DROP:.0%} in every run: "
        + (", ".join(f"{n}: {v[0]:.3f} -> {v[-1]:.3f}" for n, v in losses.items()) or "no metrics.jsonl written")
    )


# -- the suite over registered components ---------------------------------------------------------


def _accepts(factory: Callable[..., Any], key: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is p.VAR_KEYWORD or (p.name == key and p.kind is not p.VAR_POSITIONAL) for p in parameters)


def conformance_kwargs(factory: Callable[..., Any], family: str | None = None) -> dict[str, Any]:
    """The arguments the checks build ``factory`` with: its ``conformance_kwargs`` attribute (a dict,
    inherited like any class attribute; none declared: ``{}``); for strategies, on top of those
    ``STRATEGY_CHECK_DEFAULTS`` that its signature accepts."""
    declared = getattr(factory, "conformance_kwargs", None)
    if declared is None:
        declared = {}
    if not isinstance(declared, Mapping) or not all(isinstance(k, str) for k in declared):
        raise TypeError(
            f"{getattr(factory, '__qualname__', repr(factory))}.conformance_kwargs must be a dict of "
            f"constructor arguments by name, got {declared!r}"
        )
    base = {}
    if family == "strategies":
        base = {k: v for k, v in STRATEGY_CHECK_DEFAULTS.items() if _accepts(factory, k)}
    return {**base, **declared}


@dataclass(frozen=True)
class ConformanceCase:
    """One registered component and the arguments its check builds it with; ``run()`` checks it."""

    family: str
    name: str
    backend: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    distribution: str | None = None

    @property
    def id(self) -> str:
        """``family/name`` (augmentations: ``family/name/backend``), the pytest id."""
        return "/".join(p for p in (self.family, self.name, self.backend) if p)

    def run(self) -> Any:
        if self.family == "augmentations":
            check = check_image_augmentation if self.backend == "image" else check_augmentation
            return check(self.name, **self.kwargs)
        if self.family == "losses":
            return check_loss(self.name, **self.kwargs)
        return check_strategy(self.name, **self.kwargs)


def _families(family: str | Sequence[str] | None) -> list[str]:
    families = list(_FAMILIES) if family is None else [family] if isinstance(family, str) else list(family)
    unknown = [f for f in families if f not in _FAMILIES]
    if unknown:
        raise ValueError(f"family must be one of {_FAMILIES} (or a list of them), got {unknown[0]!r}")
    return families


def conformance_cases(
    distribution: str | None = None, family: str | Sequence[str] | None = None
) -> list[ConformanceCase]:
    """Every registered component of ``family`` (default: all three) from ``distribution`` (default:
    every distribution; the built-ins are ``"effl-plugins"``), one case per augmentation backend,
    in family, name, backend order.

    A named distribution that registered nothing, or whose plugin failed to load, raises ValueError
    (an empty suite would pass without checking anything).
    """
    from .plugins import _normalize, get_manager

    families = _families(family)
    manager = get_manager()
    registries = [manager.registry(f) for f in families]  # loads the plugins
    wanted = None if distribution is None else _normalize(distribution)
    if wanted is not None:
        failed = [i for i in manager.infos.values() if _normalize(i.distribution) == wanted and i.error]
        if failed:
            raise ValueError(
                f"distribution {distribution!r}: plugin {failed[0].name!r} did not load cleanly: {failed[0].error}"
            )
        known = {_normalize(c.distribution) for f in _FAMILIES for c in manager.registry(f).components()}
        if wanted not in known:
            raise ValueError(
                f"no component is registered by distribution {distribution!r}; is it installed? "
                f"Distributions with components: {', '.join(sorted(known))}"
            )
    cases = []
    for registry in registries:
        for component in registry.components():
            if wanted is not None and _normalize(component.distribution) != wanted:
                continue
            try:
                kwargs = conformance_kwargs(component.factory, registry.family)
            except TypeError as error:
                where = f"{registry.family} {component.name!r} of plugin {component.plugin!r}"
                raise TypeError(f"{where}: {error}") from None
            cases.append(
                ConformanceCase(registry.family, component.name, component.backend, kwargs, component.distribution)
            )
    order = {f: i for i, f in enumerate(_FAMILIES)}
    return sorted(cases, key=lambda c: (order[c.family], c.name, c.backend or ""))


def conformance_suite(distribution: str | None = None, family: str | Sequence[str] | None = None) -> list[Any]:
    """``conformance_cases(...)`` as ``pytest.param``s with readable ids, for ``pytest.mark.parametrize``::

    @pytest.mark.parametrize("case", conformance_suite("my-distribution", family="losses"))
    def test_my_losses(case):
        case.run()
    """
    import pytest

    return [pytest.param(case, id=case.id) for case in conformance_cases(distribution, family)]


def conformance_tests(
    distribution: str | None = None, family: str | Sequence[str] | None = None
) -> Callable[[ConformanceCase], Any]:
    """A parametrized pytest test function over ``conformance_suite(distribution, family)``; bind it
    to a ``test_*`` name in a test module and pytest collects one test per component::

        test_conformance = conformance_tests("my-distribution")
    """
    import pytest

    @pytest.mark.parametrize("case", conformance_suite(distribution, family))
    def test_conformance(case: ConformanceCase) -> None:
        case.run()

    return test_conformance
