"""CutMix (Yun et al. 2019, "CutMix: Regularization Strategy to Train Strong Classifiers with
Localizable Features"): paste a box from a partner image; the labels mix by the pasted area.

Per sample: λ ~ Beta(α, α), a box of side ``floor(H·sqrt(1-λ)) x floor(W·sqrt(1-λ))`` centred
on a uniform pixel and clipped to the image (the box rule of ``timm.data.mixup.rand_bbox``).
The partner's label weight is the exact pasted area fraction after clipping, so the target weight
always matches the pixels (timm's ``correct_lam=True``).
"""

from __future__ import annotations

import torch

from .mixing import MixingAugmentation

__all__ = ["CutMix", "box_masks"]


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bool masks ``[B, H, W]``, True inside each box ``(top, bottom, left, right)`` (half-open)."""
    rows = torch.arange(height, device=boxes.device)
    cols = torch.arange(width, device=boxes.device)
    in_rows = (rows >= boxes[:, 0:1]) & (rows < boxes[:, 1:2])  # [B, H]
    in_cols = (cols >= boxes[:, 2:3]) & (cols < boxes[:, 3:4])  # [B, W]
    return in_rows[:, :, None] & in_cols[:, None, :]


def _sample_boxes(lam: torch.Tensor, height: int, width: int, draws: int, generator) -> torch.Tensor:
    """Boxes ``[B, 4]`` int64 (top, bottom, left, right), clipped; per-batch mode shares one centre."""
    batch, device = lam.shape[0], lam.device
    where = generator.device if generator is not None else device
    centre = torch.rand(draws, 2, generator=generator, device=where, dtype=torch.float64).to(device)
    centre = centre.expand(batch, 2)
    cy = (centre[:, 0] * height).floor().long().clamp_(max=height - 1)
    cx = (centre[:, 1] * width).floor().long().clamp_(max=width - 1)
    ratio = torch.sqrt(1.0 - lam)
    cut_h = (height * ratio).floor().long()
    cut_w = (width * ratio).floor().long()
    top = (cy - cut_h // 2).clamp(0, height)
    bottom = (cy + (cut_h + 1) // 2).clamp(0, height)
    left = (cx - cut_w // 2).clamp(0, width)
    right = (cx + (cut_w + 1) // 2).clamp(0, width)
    return torch.stack([top, bottom, left, right], dim=1)


class CutMix(MixingAugmentation):
    """Per-sample CutMix with area-exact soft targets.

    Args: see :class:`~effl_plugins.augment.mixing.MixingAugmentation` (``alpha``, ``num_classes``,
    ``label_smoothing``, ``per_batch``, ``p``).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same; targets ``[B]`` int or ``[B, K]`` -> ``[B, K]`` float32.
        params: ``permutation`` ``[B]`` int64 (partner of each sample), ``box`` ``[B, 4]`` int64
        (top, bottom, left, right), already clipped to the image.

    Example:
        >>> aug = CutMix(alpha=1.0, num_classes=3)
        >>> x = torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 8, 8)
        >>> y, t = aug(x, torch.tensor([0, 1, 2, 0]), generator=torch.Generator().manual_seed(0))
        >>> t.shape, bool(torch.allclose(t.sum(1), torch.ones(4)))
        (torch.Size([4, 3]), True)
    """

    def sample_params(self, images, generator=None):
        height, width = images.shape[-2:]
        lam, permutation = self._sample_lam_and_partner(images, generator)
        boxes = _sample_boxes(lam, height, width, 1 if self.per_batch else len(lam), generator)
        return {"permutation": permutation, "box": boxes}

    def apply(self, images, targets, params):
        batch, _, height, width = images.shape
        permutation = self._check_permutation(params, batch)
        boxes = params["box"].long()
        if boxes.shape != (batch, 4):
            raise ValueError(
                f"params['box'] must be int [B, 4] (top, bottom, left, right) with B={batch}, got shape "
                f"{tuple(boxes.shape)}"
            )
        limits = torch.tensor([height, height, width, width], device=boxes.device)
        boxes = torch.minimum(boxes.clamp(min=0), limits)
        mask = box_masks(boxes, height, width)[:, None]
        mixed = torch.where(mask, images[permutation], images)
        area = ((boxes[:, 1] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 2]).clamp(min=0)).double()
        own_weight = 1.0 - area / float(height * width)
        return mixed, self._mixed_targets(targets, batch, permutation, own_weight)
