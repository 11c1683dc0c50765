"""What every distillation loss shares: the call convention, input checks, the class mapping.

Call: ``loss(student_logits, teacher_logits=None, targets=None, **features) -> dict[str, Tensor]``
with ``"loss"`` the total to backpropagate. Teacher inputs are detached: gradients reach the
student only. Losses compute in float32 (or wider) whatever the input dtype.

Heads with different class counts (a 100-class teacher, a 10-class student) need an explicit
``teacher_classes``: one teacher class index per student class, so that
``teacher_logits[:, teacher_classes]`` is ``[B, K_student]``. Without it, shapes must match.

Input checks (``DistillationLoss.logits``): a batch of at least one sample (an empty batch has no
mean), class ids in ``0..K-1``, soft-target rows that are probabilities. Shapes and dtypes are checked on
the host; the target values on the device, their flag read with the non-finite check below.

Non-finite inputs, one rule for every loss (``check_finite``, called by ``DistillationLoss.logits``
for the logits and by ``FeatureDistillationLoss.forward`` for the features):

- NaN anywhere (student or teacher logits, student or teacher features): ValueError naming the
  argument, the number of NaN entries and the loss. A NaN means a model diverged; masking it would
  hide that.
- ``+inf`` anywhere, and ``-inf`` in student logits or in features: the same ValueError.
- ``-inf`` in teacher logits is a masked class, probability 0. Losses with ``masked_teacher = True``
  (every built-in whose teacher enters only through its softmax) compute it exactly: the class
  contributes 0 to every ``p log p`` / KL term (the ``0 log 0 = 0`` convention) and gradients stay
  finite. The others (``mse_logits``, ``logit_std_kd``; ``rkd`` / ``pkt`` when the logits are their
  embeddings) refuse it with the same ValueError, as they do a teacher row with every class masked.

Cost: finite inputs take one ``sum`` per tensor and ONE host read per check (on CUDA, the one
host-device synchronisation the training engine allows, :mod:`effl_plugins.train.engine`; the target
check shares it): a logit loss checks once per call, a feature loss twice. Only inputs whose sum is not
finite are counted entry by entry. ``kd`` checks its value instead (``DistillationLoss.refuse_non_finite``).

Features: a loss that uses intermediate features sets the class attribute ``uses_features = True``
and receives ``student_features=`` / ``teacher_features=``: the last intermediate map ``[B, C, H, W]``
(timm's ``forward_intermediates(x, indices=1)[1][-1]``). A loss that needs several levels also sets
``feature_levels = N`` (an int, per instance where configurable) and receives lists of ``N`` maps,
shallow to deep, from ``forward_intermediates(x, indices=N)``. Without features, a feature loss is its
logit part alone. Embedding losses (``rkd``, ``pkt``, ``crd``) pool those maps to ``[B, C]`` themselves.
Adapters whose shapes depend on channel counts take them as arguments (``student_channels`` /
``teacher_channels``) or are built on the first call; they live in ``loss.parameters()`` (from
construction, or from that call on), which the training loop optimizes with the student.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import fraction as check_fraction
from .._validate import non_negative as check_non_negative
from .._validate import positive as check_positive
from .functional import kd_divergence

__all__ = [
    "DistillationLoss",
    "FeatureDistillationLoss",
    "as_float",
    "feature_pairs",
    "check_finite",
    "check_fraction",
    "check_logits",
    "check_non_negative",
    "check_positive",
    "check_targets",
    "targets_valid",
    "class_map",
    "cross_entropy",
    "select_teacher_classes",
    "soft_target_tolerance",
]


def as_float(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or wider when it already is (float64 stays float64)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def cross_entropy(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in float32 (or wider) against class ids ``[B]`` or probabilities ``[B, K]``."""
    logits = as_float(student_logits)
    return F.cross_entropy(logits, targets.to(logits.dtype) if targets.dtype.is_floating_point else targets)


def _is_integer(x: torch.Tensor) -> bool:
    return not x.dtype.is_floating_point and not x.is_complex() and x.dtype != torch.bool


def class_map(teacher_classes: Any) -> torch.Tensor | None:
    """Validate a student-to-teacher class mapping: ``None`` or a 1-D sequence of class indices >= 0."""
    if teacher_classes is None:
        return None
    try:
        index = torch.as_tensor(teacher_classes)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"teacher_classes must be a 1-D list or LongTensor of teacher class indices, got {teacher_classes!r}"
        ) from error
    if index.ndim != 1 or index.numel() == 0 or not _is_integer(index):
        raise ValueError(
            "teacher_classes must be a non-empty 1-D list or LongTensor of teacher class indices, "
            f"got {index.dtype} {list(index.shape)}"
        )
    if (index < 0).any():
        raise ValueError(f"teacher_classes must be indices >= 0, got minimum {int(index.min())}")
    return index.long()


def select_teacher_classes(
    teacher: torch.Tensor, teacher_classes: torch.Tensor | None, student_classes: int
) -> torch.Tensor:
    """``teacher[:, teacher_classes]`` (``[B, K_student]``) after checking the mapping fits both heads."""
    if teacher_classes is None:
        return teacher
    if teacher_classes.numel() != student_classes:
        raise ValueError(
            f"teacher_classes has {teacher_classes.numel()} entries, "
            f"one per student class is needed ({student_classes})"
        )
    if int(teacher_classes.max()) >= teacher.shape[-1]:
        raise ValueError(
            f"teacher_classes index {int(teacher_classes.max())} is out of range "
            f"for a {teacher.shape[-1]}-class teacher"
        )
    return teacher.index_select(-1, teacher_classes.to(teacher.device))


def check_logits(
    student: Any, teacher: Any = None, *, teacher_required: bool = True, teacher_classes: torch.Tensor | None = None
) -> None:
    """Student ``[B, K]`` floating logits; teacher, when given or required, ``[B, K]`` too, or
    ``[B, K_teacher]`` when ``teacher_classes`` maps the student classes into it."""
    if not isinstance(student, torch.Tensor) or student.ndim != 2 or not student.dtype.is_floating_point:
        shape = tuple(student.shape) if isinstance(student, torch.Tensor) else type(student).__name__
        raise ValueError(f"student_logits must be a floating tensor [B, K], got {shape}")
    if student.shape[0] == 0 or student.shape[1] == 0:
        raise ValueError(
            f"student_logits must hold at least one sample and one class, got shape {list(student.shape)} "
            "(a loss is a mean over the batch: an empty batch has none)"
        )
    if teacher is None:
        if teacher_required:
            raise ValueError("teacher_logits is required by this loss, got None")
        return
    if not isinstance(teacher, torch.Tensor) or not teacher.dtype.is_floating_point or teacher.ndim != 2:
        shape = tuple(teacher.shape) if isinstance(teacher, torch.Tensor) else type(teacher).__name__
        raise ValueError(f"teacher_logits must be a floating tensor [B, K], got {shape}")
    if teacher.shape[0] != student.shape[0]:
        raise ValueError(
            f"teacher_logits batch {teacher.shape[0]} differs from student_logits batch {student.shape[0]}"
        )
    if teacher_classes is None and teacher.shape != student.shape:
        raise ValueError(
            f"teacher_logits shape {tuple(teacher.shape)} differs from student_logits shape {tuple(student.shape)}; "
            "heads with different class counts need an explicit teacher_classes mapping"
        )


def check_finite(
    loss: str,
    tensors: Sequence[tuple[str, torch.Tensor | None]],
    masked: str | None = None,
    *,
    exact: bool = False,
    targets: tuple[Any, torch.Tensor] | None = None,
) -> bool:
    """Apply the non-finite rule (module docstring) to ``(argument name, tensor)`` pairs; ``None`` tensors
    are skipped. ``masked`` names the one argument whose ``-inf`` entries are masked classes (allowed,
    unless a whole row is masked). Returns whether that argument holds any. ``loss`` names the loss
    in messages. ``targets``: ``(targets, student_logits)``, whose value check (:func:`targets_valid`)
    joins the same read; when it fails, :func:`check_targets` raises first.

    Fast path: the tensors' sums added up and read once; only a total that is not finite (an overflow
    too) takes the exact path, entry by entry, as ``exact=True`` does at once.
    """
    present = [(name, x.detach()) for name, x in tensors if x is not None]
    if not present:
        if targets is not None:
            check_targets(*targets)
        return False
    totals: list[torch.Tensor | None] = [None] * len(present)
    if not exact:
        totals = [x.sum(dtype=torch.promote_types(x.dtype, torch.float32)) for _, x in present]
        where, dtype = totals[0].device, functools.reduce(torch.promote_types, (t.dtype for t in totals))
        total = torch.stack([t.to(where, dtype) for t in totals]).sum()
        if targets is not None:
            total = _nan_unless_valid(total, *targets)
        if math.isfinite(total.item()):  # the check's one host read
            return False
    if targets is not None:
        check_targets(*targets)
    has_masked = False
    for (name, x), total in zip(present, totals):
        if total is not None and x.device.type == "cpu" and math.isfinite(total.item()):
            continue
        nan, pos, neg = torch.stack([torch.isnan(x).sum(), torch.isposinf(x).sum(), torch.isneginf(x).sum()]).tolist()
        if nan or pos or (neg and name != masked):
            found = ", ".join(
                f"{count} {kind}" for count, kind in ((nan, "NaN"), (pos, "+inf"), (neg, "-inf")) if count
            )
            if nan:
                why = "a NaN means a model diverged: check its outputs, learning rate and loss scale"
            elif pos:
                why = "+inf has no finite loss"
            elif name == "teacher_logits":
                why = "this loss cannot treat -inf as a masked class"
            else:
                why = "-inf is allowed only in teacher_logits, as a masked class"
            raise ValueError(f"{loss} refuses non-finite {name}: {found} of {x.numel()} entries ({why})")
        if neg:
            full = torch.isneginf(x).all(-1)
            if bool(full.any()):
                row = int(full.nonzero()[0])
                raise ValueError(
                    f"{loss} refuses {name} row {row}: -inf in every class (a teacher distribution needs at "
                    "least one class with a finite logit)"
                )
            has_masked = True
    return has_masked


def _target_kind(targets: Any, student: torch.Tensor) -> str | None:
    """``"hard"`` (int class ids ``[B]``), ``"soft"`` (float rows ``[B, K]``) or None (no targets), from the
    shape and dtype alone (no value read); any other tensor: ValueError."""
    if targets is None:
        return None
    if not isinstance(targets, torch.Tensor):
        raise ValueError(
            f"targets must be a tensor of class ids [B] or probabilities [B, K], got {type(targets).__name__}"
        )
    hard = targets.ndim == 1 and _is_integer(targets)
    soft = targets.ndim == 2 and targets.dtype.is_floating_point and targets.shape == student.shape
    if not (hard or soft) or targets.shape[0] != student.shape[0]:
        raise ValueError(
            f"targets must be int class ids [B={student.shape[0]}] or float probabilities {list(student.shape)}, "
            f"got {targets.dtype} {list(targets.shape)}"
        )
    return "hard" if hard else "soft"


def targets_valid(targets: Any, student: torch.Tensor) -> torch.Tensor | None:
    """Whether ``targets`` hold valid values (:func:`check_targets`' rule), as a 0-dim bool tensor on their
    device, read by nobody here: the losses fold it into their one non-finite read (:func:`check_finite`).
    None without targets; a wrong shape or dtype is a ValueError at once."""
    kind = _target_kind(targets, student)
    if kind is None:
        return None
    if kind == "hard":
        return ((targets >= 0) & (targets < student.shape[1])).all()
    sums = targets.double().sum(dim=1)
    return (((sums - 1).abs() <= soft_target_tolerance(targets.dtype)) & (targets >= 0).all(dim=1)).all()


def _nan_unless_valid(value: torch.Tensor, targets: Any, student: torch.Tensor) -> torch.Tensor:
    """``value``, or NaN when the target values are not valid (:func:`targets_valid`), for the one read."""
    valid = targets_valid(targets, student)
    return value if valid is None else torch.where(valid.to(value.device), value, torch.full_like(value, math.nan))


def check_targets(targets: Any, student: torch.Tensor) -> None:
    """Hard class ids ``[B]`` (int, each in ``0..K-1``) or soft targets ``[B, K]`` (float rows of
    probabilities: non-negative, summing to 1 within ``soft_target_tolerance``); ValueError naming the
    values otherwise. Reads the values on the host: the losses call it only once :func:`targets_valid`,
    read with their non-finite check, says they are bad."""
    kind = _target_kind(targets, student)
    if kind == "hard":
        low, high = int(targets.min()), int(targets.max())
        if low < 0 or high >= student.shape[1]:
            raise ValueError(
                f"targets must be class ids in 0..{student.shape[1] - 1} (K={student.shape[1]}), "
                f"got values in {low}..{high}"
            )
    elif kind == "soft":
        tolerance = soft_target_tolerance(targets.dtype)
        sums = targets.double().sum(dim=1)
        bad = ~((sums - 1).abs() <= tolerance) | (targets < 0).any(dim=1)  # NaN sums are bad too
        if bool(bad.any()):
            row = int(bad.nonzero()[0])
            raise ValueError(
                f"soft targets must be rows of probabilities (>= 0, summing to 1 within {tolerance}); "
                f"row {row} sums to {float(sums[row]):.6g} with minimum {float(targets[row].min()):.6g}"
            )


def soft_target_tolerance(dtype: torch.dtype) -> float:
    """How far a soft-target row's sum may be from 1: 1e-3 in float32/float64, 1e-2 in 16-bit floats."""
    return 1e-3 if torch.finfo(dtype).bits >= 32 else 1e-2


class DistillationLoss(nn.Module):
    """Base class: subclasses implement ``forward`` with the call convention above.

    Args:
        teacher_classes: optional student-to-teacher class mapping (see the module docstring),
            kept as a non-persistent buffer so that it follows ``.to(device)``.
    """

    #: Whether the loss uses intermediate features (``student_features=``, ``teacher_features=``).
    uses_features: bool = False
    #: Whether ``-inf`` teacher logits are masked classes this loss computes exactly (probability 0);
    #: False: refused with a ValueError (see the module docstring).
    masked_teacher: bool = False

    def __init__(self, teacher_classes: Sequence[int] | torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("teacher_classes", class_map(teacher_classes), persistent=False)

    def logits(
        self, student_logits: Any, teacher_logits: Any, targets: Any = None, **options: Any
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Check the inputs; return the student logits and the detached, class-mapped teacher
        logits (``[B, K_student]``), both in their input dtypes.

        Non-finite values follow :func:`check_finite` on the logits the loss reads (the teacher's after
        ``teacher_classes``). Options: ``teacher_required=True``; ``masked_teacher`` overrides the class
        attribute for this call; ``finite_after=True`` defers the non-finite check, and the target values',
        to :meth:`refuse_non_finite`, which the loss then calls with a value computed from every entry of
        both logits and with ``targets``."""
        return self.checked_logits(student_logits, teacher_logits, targets, **options)[:2]

    def checked_logits(
        self,
        student_logits: Any,
        teacher_logits: Any,
        targets: Any = None,
        *,
        teacher_required: bool = True,
        masked_teacher: bool | None = None,
        finite_after: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """:meth:`logits`, plus whether the teacher holds masked (``-inf``) classes (False when deferred)."""
        mapping = getattr(self, "teacher_classes", None)
        check_logits(student_logits, teacher_logits, teacher_required=teacher_required, teacher_classes=mapping)
        _target_kind(targets, student_logits)  # shape and dtype now; the values with the non-finite read
        if teacher_logits is not None:
            teacher_logits = select_teacher_classes(teacher_logits.detach(), mapping, student_logits.shape[-1])
        if finite_after:
            return student_logits, teacher_logits, False
        masked = self.masked_teacher if masked_teacher is None else masked_teacher
        return student_logits, teacher_logits, self._check_finite(student_logits, teacher_logits, targets, masked)

    def refuse_non_finite(
        self,
        value: torch.Tensor,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor | None,
        targets: torch.Tensor | None = None,
    ) -> None:
        """The deferred non-finite check, for a loss whose scalar ``value`` reads every entry of both (checked,
        class-mapped) logits through operations that propagate NaN and infinities: one read of ``value``
        instead of a pass over the inputs. A value that is not finite has the logits counted entry by entry,
        which raises naming the argument; if they are finite after all (an overflow), this returns. ``targets``
        (the call's) join the same read (:func:`targets_valid`), and are refused first when not valid."""
        value = _nan_unless_valid(value.detach(), targets, student_logits)
        if not math.isfinite(value.item()):  # the check's one host read
            self._check_finite(student_logits, teacher_logits, targets, self.masked_teacher, exact=True)

    def _check_finite(self, student_logits, teacher_logits, targets, masked: bool, exact: bool = False) -> bool:
        """:func:`check_finite` on both logits and the targets' values; whether the teacher holds masked classes."""
        return check_finite(
            type(self).__name__,
            (("student_logits", student_logits), ("teacher_logits", teacher_logits)),
            masked="teacher_logits" if masked else None,
            exact=exact,
            targets=None if targets is None else (targets, student_logits),
        )

    def with_ce(
        self, out: dict[str, torch.Tensor], student_logits: torch.Tensor, targets: Any, weight: float | None = None
    ) -> dict[str, torch.Tensor]:
        """``out`` with ``"ce"`` (the student's cross-entropy) and ``weight * ce`` added to its ``"loss"`` when
        there are targets; ``weight`` defaults to ``self.ce_weight``."""
        if targets is None:
            return out
        ce = cross_entropy(student_logits, targets)
        weight = self.ce_weight if weight is None else weight
        return {**out, "loss": out["loss"] + weight * ce, "ce": ce}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k != "training")


def feature_pairs(student_features: Any, teacher_features: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pair up ``student_features=`` and ``teacher_features=`` (a tensor or a list of tensors each);
    teacher features detached. Neither given: ``[]``. One without the other, or lengths that
    differ: ValueError."""
    if student_features is None and teacher_features is None:
        return []
    if student_features is None or teacher_features is None:
        missing = "student_features" if student_features is None else "teacher_features"
        raise ValueError(f"{missing} is None while the other is given; pass both (a tensor or a list of tensors each)")
    students = [student_features] if isinstance(student_features, torch.Tensor) else list(student_features)
    teachers = [teacher_features] if isinstance(teacher_features, torch.Tensor) else list(teacher_features)
    if len(students) != len(teachers) or not students:
        raise ValueError(
            f"student_features and teacher_features must pair up, got {len(students)} and {len(teachers)} tensors"
        )
    for name, items in (("student_features", students), ("teacher_features", teachers)):
        for item in items:
            if not isinstance(item, torch.Tensor) or not item.dtype.is_floating_point:
                raise ValueError(f"{name} must hold floating tensors, got {type(item).__name__}")
    return [(s, t.detach()) for s, t in zip(students, teachers)]


def _named_features(student_features: Any, teacher_features: Any) -> list[tuple[str, torch.Tensor]]:
    """``(argument name, tensor)`` for every feature tensor given (``student_features[i]`` in lists)."""
    named = []
    for name, given in (("student_features", student_features), ("teacher_features", teacher_features)):
        if isinstance(given, torch.Tensor):
            named.append((name, given))
        elif isinstance(given, (list, tuple)):
            named += [(f"{name}[{i}]", x) for i, x in enumerate(given) if isinstance(x, torch.Tensor)]
    return [(name, x) for name, x in named if x.dtype.is_floating_point]


class FeatureDistillationLoss(DistillationLoss):
    """A feature term plus an optional logit part, shared by the feature losses:
    ``loss = feature_weight * feature_term + ce_weight * CE(s, y) + kd_weight * KD_T(s, t)``, each term present only
    when its inputs are (features, targets, teacher logits with ``kd_weight > 0``). Without features
    the loss is its logit part alone; with nothing to compute at all, a ValueError."""

    uses_features = True
    masked_teacher = True  # the logit part is KD; losses reading logits otherwise override it per call
    #: Arguments of the conformance checks (effl_plugins.testing): with no features, the CE + KD part.
    conformance_kwargs = {"kd_weight": 1.0}

    def __init__(self, ce_weight: float = 1.0, kd_weight: float = 0.0, temperature: float = 4.0, teacher_classes=None):
        super().__init__(teacher_classes)
        self.ce_weight = check_non_negative(ce_weight, "ce_weight")
        self.kd_weight = check_non_negative(kd_weight, "kd_weight")
        self.temperature = check_positive(temperature, "temperature")

    #: The feature term's key in the result dict, and the attribute holding its weight (``None``: weight 1).
    term: str = "feature"
    term_weight: str | None = None

    def pair_loss(self, index: int, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """The feature term of feature pair ``index``; the default :meth:`feature_term` sums it over the pairs."""
        raise NotImplementedError(f"{type(self).__name__} defines neither pair_loss nor feature_term")

    def feature_term(self, student_features, teacher_features, logits: tuple, **features) -> tuple[Any, dict]:
        """The feature term (``None`` without features) and extra entries for the result dict.

        ``logits`` is ``(student_logits, teacher_logits, targets)``, for losses that fall back on them.
        """
        pairs = feature_pairs(student_features, teacher_features)
        if not pairs:
            return None, {}
        return torch.stack([self.pair_loss(i, s, t) for i, (s, t) in enumerate(pairs)]).sum(), {}

    def forward(
        self,
        student_logits,
        teacher_logits=None,
        targets=None,
        *,
        student_features=None,
        teacher_features=None,
        **features,
    ):
        logits = (student_logits, teacher_logits, targets)
        check_finite(type(self).__name__, _named_features(student_features, teacher_features))
        term, extra = self.feature_term(student_features, teacher_features, logits, **features)
        student_logits, teacher_logits = self.logits(*logits, teacher_required=False)
        out = {} if term is None else {self.term: term}
        if targets is not None:
            out["ce"] = cross_entropy(student_logits, targets)
        if teacher_logits is not None and self.kd_weight > 0:
            out["kd"] = kd_divergence(student_logits, teacher_logits, self.temperature)
        if not out:
            raise ValueError(
                f"{type(self).__name__} got no student_features/teacher_features, no targets and "
                f"kd_weight={self.kd_weight} (or no teacher_logits): there is nothing to optimize"
            )
        term_weight = 1.0 if self.term_weight is None else getattr(self, self.term_weight)
        weights = {self.term: term_weight, "ce": self.ce_weight, "kd": self.kd_weight}
        return {"loss": sum(weights[k] * v for k, v in out.items()), **out, **extra}
