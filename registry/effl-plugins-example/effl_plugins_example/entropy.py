"""Entropy minimisation (Grandvalet & Bengio 2005, "Semi-supervised Learning by Entropy
Minimization"): cross-entropy on the labeled images plus ``weight`` times the mean prediction
entropy on unlabeled ones. A plugin strategy that reuses effl's engine with a task of its own: the
engine brings the optimizer, schedule, AMP, checkpoints, resume, metrics and torchrun."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from effl_plugins.strategies import Strategy
from effl_plugins.train import Batch, Task


class EntropyMinimizationTask(Task):
    """``CE(labeled) + weight * mean_u H(softmax(model(x_u)))``; ``mu`` unlabeled images per labeled one."""

    batch_augmentation = False

    def __init__(self, model, model_input, weight: float = 0.1, mu: int = 2):
        super().__init__(model, model_input)
        self.weight, self.unlabeled_ratio = weight, mu

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.net(self.model_input(torch.cat([batch.images, batch.unlabeled])))
        labeled, unlabeled = logits.float().split([len(batch.images), len(batch.unlabeled)])
        supervised = F.cross_entropy(labeled, batch.targets)
        entropy = -(F.softmax(unlabeled, 1) * F.log_softmax(unlabeled, 1)).sum(1).mean()
        return {"loss": supervised + self.weight * entropy, "entropy": entropy.detach(), "output": labeled}


class EntropyMinimization(Strategy):
    """Semi-supervised training by entropy minimisation on the engine.

    Args:
        weight: weight of the entropy term (0.1 by default).
        mu: unlabeled images per labeled image in a step.
        Every shared setting (``model``, ``epochs``, ``lr``, ``opt``, ``amp``...): see
        ``effl_plugins.strategies.Strategy``.
    """

    name = "example_entropy_min"

    def __init__(self, model: str = "test_resnet", weight: float = 0.1, mu: int = 2, **kwargs):
        super().__init__(model=model, **kwargs)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        if isinstance(mu, bool) or not isinstance(mu, int) or mu < 1:
            raise ValueError(f"mu must be an integer >= 1, got {mu!r}")
        self.weight, self.mu = float(weight), mu

    def run(self, data, *, out_dir=None, device=None, resume=False):
        if data.unlabeled is None or len(data.unlabeled) == 0:
            raise ValueError(f"strategy {self.name!r} needs unlabeled images: data {data.name!r} has none")
        self.with_device(device)
        model = self.build_model(self.model, data.num_classes)
        task = EntropyMinimizationTask(model, self.model_input(model, data), self.weight, self.mu)
        summary = self.engine(task, data, out_dir, unlabeled_set=data.unlabeled).fit(resume=resume)
        result = {"strategy": self.name, **summary}
        self.write_summary(out_dir, result)
        return result
