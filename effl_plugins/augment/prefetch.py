"""Device-side loading: uint8 batches copied to the device ahead of use, then augmented there in batch.

In the spirit of ``timm.data.PrefetchLoader``: the DataLoader workers only decode and collate uint8
images (a quarter of float32's host-to-device traffic); on CUDA the next batch is pinned, copied with
``non_blocking=True`` and augmented on a side stream while the model consumes the current one.
On the CPU the same steps run in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch

__all__ = ["PrefetchLoader"]


def _check_stats(name: str, value: Sequence[float] | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    stats = tuple(float(v) for v in value)
    if len(stats) not in (1, 3) or (name == "std" and any(v <= 0 for v in stats)):
        raise ValueError(
            f"{name} must hold 1 or 3 numbers on the 0..1 scale{' (all > 0)' if name == 'std' else ''}, got {value!r}"
        )
    return stats


class PrefetchLoader:
    """Wrap a loader of uint8 ``[B, C, H, W]`` batches: move, augment and (optionally) normalize on ``device``.

    Args:
        loader: any iterable of ``(images, targets)`` or of ``images`` alone (e.g. a DataLoader).
        augmentation: a batch-backend augmentation ``aug(images, targets, generator=...)`` or None.
        device: where batches go; default CUDA when available, else CPU.
        mean, std: if given (0..1 scale, e.g. ``timm.data.IMAGENET_DEFAULT_MEAN``), images come out
            float32 ``(x / 255 - mean) / std``; otherwise they keep the loader's dtype.
        generator: a ``torch.Generator`` passed to the augmentation on every batch (reproducible runs).

    Yields:
        ``(images, targets)``; targets are None when the loader yields images alone, and become soft
        ``[B, K]`` after a mixing augmentation.

    Example:
        >>> data = [(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]))]
        >>> images, targets = next(iter(PrefetchLoader(data, device="cpu", mean=(0.5,), std=(0.5,))))
        >>> images.dtype, float(images.min())
        (torch.float32, -1.0)
    """

    def __init__(
        self,
        loader: Iterable,
        augmentation: Callable[..., Any] | None = None,
        device: str | torch.device | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        generator: torch.Generator | None = None,
    ):
        self.loader = loader
        self.augmentation = augmentation
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        self.mean, self.std = _check_stats("mean", mean), _check_stats("std", std)
        if (self.mean is None) != (self.std is None):
            raise ValueError(f"mean and std go together: got mean={mean!r}, std={std!r}")
        self.generator = generator

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def _prepare(self, batch: Any) -> tuple[torch.Tensor, Any]:
        images, targets = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise TypeError(
                "the loader must yield [B, C, H, W] image tensors (or (images, targets)), got "
                f"{type(images).__name__} {getattr(images, 'shape', '')}"
            )
        on_cuda = self.device.type == "cuda"
        if on_cuda and not images.is_pinned():
            images = images.pin_memory()
        images = images.to(self.device, non_blocking=on_cuda)
        if isinstance(targets, torch.Tensor):
            targets = targets.to(self.device, non_blocking=on_cuda)
        if self.augmentation is not None:
            images, targets = self.augmentation(images, targets, generator=self.generator)
        if self.mean is not None:
            images = self._normalize(images)
        return images, targets

    def _normalize(self, images: torch.Tensor) -> torch.Tensor:
        scale = 255.0 if images.dtype == torch.uint8 else 1.0
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1) * scale
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1) * scale
        return (images.to(torch.float32) - mean) / std

    def __iter__(self) -> Iterator[tuple[torch.Tensor, Any]]:
        if self.device.type != "cuda":
            for batch in self.loader:
                yield self._prepare(batch)
            return
        yield from self._iter_cuda()

    def _iter_cuda(self) -> Iterator[tuple[torch.Tensor, Any]]:
        stream = torch.cuda.Stream(device=self.device)
        pending = None
        for batch in self.loader:
            with torch.cuda.stream(stream):
                ready = self._prepare(batch)
            if pending is not None:
                yield pending
            torch.cuda.current_stream(self.device).wait_stream(stream)
            for tensor in ready:
                if isinstance(tensor, torch.Tensor):
                    tensor.record_stream(torch.cuda.current_stream(self.device))
            pending = ready
        if pending is not None:
            yield pending
