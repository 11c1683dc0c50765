"""FixMatch (Sohn et al. 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
Confidence"): the model's prediction on a weakly augmented unlabeled image becomes a hard
pseudo-label when its confidence reaches ``threshold`` (0.95); the model learns it on a strongly
augmented view (RandAugment). Loss ``L_s + lambda_u * L_u``, ``L_u`` averaged over all ``mu * B``
unlabeled images (masked ones count as zero), as in the paper.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..checkpoints import atomic_write_text
from ..data import DataBundle
from ..engine import evaluate, normalize, seed_everything
from ..strategies.base import Strategy
from .consistency import EpochCheckpoint, paired_batches, steps_per_epoch, weak_augment
from .training import build_model, noise_augmentation

__all__ = ["FixMatch", "fixmatch_unlabeled_loss"]


def fixmatch_unlabeled_loss(weak_logits: torch.Tensor, strong_logits: torch.Tensor, threshold: float = 0.95) -> dict[str, torch.Tensor]:
    """``mean_b( 1[max softmax(weak_b) >= threshold] * CE(strong_b, argmax weak_b) )``.

    The weak logits are detached (no gradient flows through the pseudo-label).

    Shape: weak_logits, strong_logits ``[U, K]`` -> ``loss`` scalar, ``mask`` float ``[U]``,
    ``pseudo_labels`` int64 ``[U]``.
    """
    if weak_logits.shape != strong_logits.shape or weak_logits.ndim != 2:
        raise ValueError(f"weak_logits and strong_logits must both be [U, K], got {tuple(weak_logits.shape)} and {tuple(strong_logits.shape)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    confidence, pseudo = torch.softmax(weak_logits.detach().float(), dim=1).max(dim=1)
    mask = (confidence >= threshold).float()
    per_image = F.cross_entropy(strong_logits, pseudo, reduction="none")
    return {"loss": (per_image * mask).mean(), "mask": mask, "pseudo_labels": pseudo}


class FixMatch(Strategy):
    """Weak/strong augmentation consistency with a confidence threshold.

    Args:
        threshold: confidence for a pseudo-label (0.95 in the paper).
        mu: unlabeled images per labeled image in a step (7 in the paper).
        lambda_u: weight of the unlabeled loss (1 in the paper).
        num_ops, magnitude: the strong augmentation (RandAugment N, M).
        flip, max_shift: the weak augmentation (flip off for data such as digits).
        model, epochs (passes over the unlabeled set), batch_size (labeled), lr, weight_decay, seed, device: as in ``Strategy``.
    """

    name = "fixmatch"

    def __init__(self, model: str = "test_resnet", threshold: float = 0.95, mu: int = 7, lambda_u: float = 1.0, num_ops: int = 2,
                 magnitude: float = 10.0, flip: bool = True, max_shift: float = 0.125, **kwargs):
        super().__init__(model=model, **kwargs)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        if isinstance(mu, bool) or not isinstance(mu, int) or mu < 1:
            raise ValueError(f"mu (unlabeled ratio) must be an integer >= 1, got {mu!r}")
        if not lambda_u >= 0:
            raise ValueError(f"lambda_u must be >= 0, got {lambda_u!r}")
        self.threshold, self.mu, self.lambda_u = threshold, mu, lambda_u
        self.num_ops, self.magnitude, self.flip, self.max_shift = num_ops, magnitude, flip, max_shift

    def run(self, data: DataBundle, *, out_dir=None, resume: bool = False) -> dict[str, Any]:
        if data.unlabeled is None or len(data.unlabeled) == 0:
            raise ValueError(f"strategy {self.name!r} needs unlabeled images: data {data.name!r} has none")
        cfg = self.config
        model = build_model(self.model, data.num_classes, cfg.seed).to(cfg.device)
        strong = noise_augmentation(self.num_ops, self.magnitude)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        generator = torch.Generator().manual_seed(cfg.seed)
        steps = steps_per_epoch(data.unlabeled, cfg.batch_size, self.mu)
        seed_everything(cfg.seed)
        checkpoint = EpochCheckpoint(out_dir, resume)
        parts = {"models": {"model": model}, "optimizer": optimizer, "generator": generator}
        state = checkpoint.restore(**parts, steps_per_epoch=steps)
        done, history = (state["epoch"], state["history"]) if state is not None else (0, [])
        next_batch = paired_batches(data.labeled, data.unlabeled, cfg.batch_size, self.mu, cfg.seed, start=done * steps)
        for epoch in range(done, cfg.epochs):
            model.train()
            masked = seen = 0.0
            for _ in range(steps):
                x_l, y_l, x_u = (t.to(cfg.device) for t in next_batch())
                weak_l = weak_augment(x_l, generator, self.flip, self.max_shift)
                weak_u = weak_augment(x_u, generator, self.flip, self.max_shift)
                strong_u, _ = strong(weak_u, generator=generator)
                logits = model(normalize(torch.cat([weak_l, weak_u, strong_u])))
                logits_l, logits_weak, logits_strong = logits.split([len(x_l), len(x_u), len(x_u)])
                unlabeled = fixmatch_unlabeled_loss(logits_weak, logits_strong, self.threshold)
                loss = F.cross_entropy(logits_l, y_l) + self.lambda_u * unlabeled["loss"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                masked += float(unlabeled["mask"].sum())
                seen += len(x_u)
            history.append({"epoch": epoch + 1, "accuracy": evaluate(model, data.test, cfg.device), "mask_rate": masked / seen})
            checkpoint.save(**parts, epoch=epoch + 1, history=history, steps_per_epoch=steps)
        self.trained_model = model
        result = {"strategy": self.name, "best_accuracy": max(h["accuracy"] for h in history),
                  "final_accuracy": history[-1]["accuracy"], "epochs": cfg.epochs, "history": history}
        if out_dir is not None:
            atomic_write_text(Path(out_dir) / "summary.json", json.dumps(result, indent=2) + "\n")
        return result
