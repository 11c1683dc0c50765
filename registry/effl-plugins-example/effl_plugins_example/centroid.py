"""Nearest-centroid classification on a frozen backbone's features: no training at all."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from effl_plugins.strategies import Strategy
from effl_plugins.train import resolve_device


class NearestCentroid(Strategy):
    """Classify by cosine similarity to each class's mean backbone feature (a training-free baseline).

    Takes the shared strategy arguments (``model``, ``seed``, ``device``, ``workers``...); ``epochs`` is ignored.
    """

    name = "example_nearest_centroid"

    @torch.no_grad()
    def _features(self, model, model_input, dataset, device):
        feats, labels = [], []
        loader = torch.utils.data.DataLoader(dataset, batch_size=256, num_workers=self.config.workers)
        for images, targets in loader:
            pooled = model.forward_head(model.forward_features(model_input(images.to(device))), pre_logits=True)
            feats.append(F.normalize(pooled, dim=-1).cpu())
            labels.append(targets)
        return torch.cat(feats), torch.cat(labels)

    def run(self, data, *, out_dir=None, device=None, resume=False):
        self.with_device(device)
        device = resolve_device(self.config.device)
        model = self.build_model(self.model, data.num_classes).to(device).eval()
        model_input = self.model_input(model, data).to(device)
        feats, labels = self._features(model, model_input, data.labeled, device)
        centroids = F.normalize(torch.stack([feats[labels == c].mean(0) for c in range(data.num_classes)]), dim=-1)
        test_feats, test_labels = self._features(model, model_input, data.test, device)
        accuracy = float(((test_feats @ centroids.T).argmax(-1) == test_labels).float().mean())
        summary = {"strategy": self.name, "best_accuracy": accuracy, "final_accuracy": accuracy, "epochs": 0}
        self.write_summary(out_dir, summary)
        return summary
