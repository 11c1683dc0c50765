"""Which pseudo-labels a student trains on: confidence thresholding and Noisy Student's class balancing.

Xie et al. 2020, "Self-training with Noisy Student improves ImageNet classification", section 3:
images whose teacher confidence is below a threshold are dropped; then every class is brought to the
same number of images: classes with too many keep their most confident ones, classes with too few
duplicate theirs (here the most confident first, cycling).
"""

from __future__ import annotations

import torch

from ..._validate import fraction, integer

__all__ = ["confidence_filter", "balance_classes", "pseudo_targets"]


def _check_probs(probs: torch.Tensor) -> torch.Tensor:
    if not isinstance(probs, torch.Tensor) or probs.ndim != 2:
        raise ValueError(
            f"probs must be a [N, K] tensor of class probabilities, got {getattr(probs, 'shape', type(probs))}"
        )
    return probs


def confidence_filter(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices (ascending) of the rows whose top probability is ``>= threshold``.

    Shape: probs ``[N, K]`` -> int64 ``[M]``, ``M <= N``. ``threshold=0`` keeps every row.
    """
    _check_probs(probs)
    fraction(threshold, "threshold", kind="a confidence")
    return torch.nonzero(probs.max(dim=1).values >= threshold).flatten()


def balance_classes(probs: torch.Tensor, quota: int, candidates: torch.Tensor | None = None) -> torch.Tensor:
    """Indices giving each predicted class exactly ``quota`` images (classes never predicted stay empty), the
    candidates of a class ordered by confidence (highest first, ties by index).

    Shape: probs ``[N, K]``, candidates int64 ``[M]`` (default all rows) -> int64 ``[quota * C]``
    in class order, ``C`` the number of predicted classes.
    """
    _check_probs(probs)
    integer(quota, "quota", low=1, note="balance: images per class")
    candidates = torch.arange(probs.shape[0]) if candidates is None else torch.as_tensor(candidates, dtype=torch.long)
    confidence, predicted = probs[candidates].max(dim=1)
    chosen = []
    for cls in range(probs.shape[1]):
        members = candidates[predicted == cls]
        if members.numel() == 0:
            continue
        order = torch.argsort(-confidence[predicted == cls], stable=True)
        ranked = members[order]
        chosen.append(ranked[:quota] if ranked.numel() >= quota else ranked[torch.arange(quota) % ranked.numel()])
    return torch.cat(chosen) if chosen else torch.empty(0, dtype=torch.long)


def pseudo_targets(probs: torch.Tensor, soft: bool) -> torch.Tensor:
    """Soft: the probabilities themselves; hard: one-hot rows of the argmax. Shape: ``[N, K]`` -> ``[N, K]``."""
    _check_probs(probs)
    if soft:
        return probs.float().clone()
    return torch.nn.functional.one_hot(probs.argmax(dim=1), probs.shape[1]).float()
