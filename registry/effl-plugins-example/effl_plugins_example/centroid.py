"""Nearest-centroid classification on a frozen backbone's features: no training at all."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from effl_plugins.engine import make_loader, normalize, seed_everything
from effl_plugins.models import create_model
from effl_plugins.strategies import Strategy


class NearestCentroid(Strategy):
    """Classify by cosine similarity to each class's mean backbone feature (a training-free baseline).

    Takes the shared strategy arguments (``model``, ``seed``, ``device``...); ``epochs`` is ignored.
    """

    @torch.no_grad()
    def _features(self, model, dataset):
        feats, labels = [], []
        for images, targets in make_loader(dataset, 256, shuffle=False):
            feats.append(F.normalize(model.forward_head(model.forward_features(normalize(images.to(self.config.device))), pre_logits=True), dim=-1))
            labels.append(targets)
        return torch.cat(feats), torch.cat(labels)

    def run(self, data, *, out_dir=None, resume=False):
        seed_everything(self.config.seed)
        model = create_model(self.model, data.num_classes).to(self.config.device).eval()
        feats, labels = self._features(model, data.labeled)
        centroids = F.normalize(torch.stack([feats[labels == c].mean(0) for c in range(data.num_classes)]), dim=-1)
        test_feats, test_labels = self._features(model, data.test)
        accuracy = float(((test_feats @ centroids.T).argmax(-1).cpu() == test_labels).float().mean())
        summary = {"strategy": "example_nearest_centroid", "best_accuracy": accuracy, "final_accuracy": accuracy, "epochs": 0}
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / "summary.json").write_text(json.dumps(summary))
        return summary
