"""What FixMatch and Mean Teacher share: FixMatch's weak view (Sohn et al. 2020, section 3.2), and SPEC-built
views."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["weak_augment", "make_view", "View", "view_refusals", "PLAIN_CROSS_ENTROPY"]

#: FixMatch's weak translation: up to 12.5 % of the side (Sohn et al. 2020, section 3.2).
WEAK_MAX_SHIFT = 0.125

View = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]

#: Why a task whose labeled loss is its paper's plain cross-entropy refuses ``smoothing``.
PLAIN_CROSS_ENTROPY = (
    "learns its labeled images with plain cross-entropy, as in its paper: --smoothing has no effect on it; "
    "leave it out (a command line that does not set it runs with 0)"
)


def view_refusals(views: str) -> dict[str, str]:
    """The ``refused_settings`` (``aug``, ``mixup``, ``cutmix``) of a task that draws its own views, each naming
    ``views``, the strategy arguments that set them (``"--strategy-arg strong=SPEC / weak=SPEC"``)."""
    mixing = "does not mix batches (its targets come from its own views of unmixed images)"
    return {
        "aug": f"applies its own augmentations: pass {views} instead of --aug",
        "mixup": f"{mixing}: leave out --mixup; its augmentations are {views}",
        "cutmix": f"{mixing}: leave out --cutmix/--cutmix-minmax; its augmentations are {views}",
    }


def weak_augment(
    images: torch.Tensor, generator: torch.Generator | None = None, flip: bool = True, max_shift: float = WEAK_MAX_SHIFT
) -> torch.Tensor:
    """Random flip (p=0.5) and translation by up to ``max_shift`` of the side (reflection padding).

    Shape: ``[B, C, H, W]`` uint8 or float -> same dtype and shape; the input is not modified.
    """
    if not 0.0 <= max_shift < 0.5:
        raise ValueError(f"max_shift must be a fraction of the side in [0, 0.5), got {max_shift!r}")
    batch, channels, height, width = images.shape
    where = generator.device if generator is not None else images.device
    out = images
    if flip:
        flips = (torch.rand(batch, generator=generator, device=where) < 0.5).to(images.device)
        out = torch.where(flips[:, None, None, None], images.flip(-1), images)
    pad = int(round(max_shift * min(height, width)))
    if pad == 0:
        return out.clone() if out is images else out
    padded = F.pad(out.float(), (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator, device=where).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator, device=where).to(images.device)
    rows = (dy[:, None] + torch.arange(height, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, None, :]
    b = torch.arange(batch, device=images.device)[:, None, None, None]
    c = torch.arange(channels, device=images.device)[None, :, None, None]
    return padded[b, c, rows, cols].to(images.dtype)


def make_view(spec, *, flip: bool = True, max_shift: float = WEAK_MAX_SHIFT) -> View:
    """A view from a batch augmentation SPEC, a module, or None (FixMatch's weak view)."""
    if spec is None:
        return lambda images, generator: weak_augment(images, generator, flip, max_shift)
    if isinstance(spec, str):
        from ..specs import batch_augmentation

        spec = batch_augmentation(spec)

    def view(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return spec(images, generator=generator)[0]

    return view
