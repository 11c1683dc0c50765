"""RandAugment's colour stage on a uint8 batch as one lookup table per sample and channel.

Every colour op of RandAugment but two is a point op on uint8, so a chain of them is one ``[B, C, 256]`` table and
the pixels are read only when an op needs them:

- brightness, solarize, posterize (:data:`POINT_OPS`): the op's own kernel runs on the table (viewed as a
  ``[B, C, 1, 256]`` image), which composes it after the ops before it;
- contrast, auto_contrast, equalize (:data:`STATISTIC_OPS`) read the current image: a sample's pending table is
  applied first ("materialized"), so they see what op-by-op application gives them, and their table replaces it;
- color and sharpness (:data:`PIXEL_OPS`): the sample is materialized and the op runs on its pixels.

The pixels live in one buffer the chain owns (a copy of the input), written by the rows of the samples concerned.
``finish`` applies the remaining tables, then :mod:`effl_plugins.augment.kernels.remap` warps the samples with
geometry.

Shape:
    images ``[B, C, H, W]`` uint8 on the CPU; tables ``[B, C, 256]`` uint8.
"""

from __future__ import annotations

import torch

from ..auto_contrast import stretch
from ..contrast import blend_with_grey, mean_grey
from ..functional.histogram import equalize_luts
from ..kernels.remap import apply_luts_rows, warp_rows_, warp_rows_framed_
from ..kernels.rows import select_rows, write_rows_

__all__ = ["LutChain", "POINT_OPS", "STATISTIC_OPS", "PIXEL_OPS"]

#: ops whose table depends on their parameters only
POINT_OPS = frozenset({"brightness", "solarize", "posterize"})
#: ops whose table depends on the current image
STATISTIC_OPS = frozenset({"contrast", "auto_contrast", "equalize"})
#: ops that are not point ops
PIXEL_OPS = frozenset({"color", "sharpness"})


_RAMP = torch.arange(256, dtype=torch.uint8)  # read, never written


def _joined(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class LutChain:
    """Per-sample colour ops on a uint8 batch, applied lazily through per-channel tables."""

    def __init__(self, images: torch.Tensor):
        batch, channels = images.shape[:2]
        self.pixels = images.clone(memory_format=torch.contiguous_format)  # rows are moved as flat words
        ramp = _RAMP if images.device.type == "cpu" else _RAMP.to(images.device)
        self.ramp = ramp.expand(batch, channels, 256)
        self.luts = self.ramp.clone()
        self.pending = torch.zeros(batch, dtype=torch.bool, device=images.device)  # table may not be the identity

    def apply_point(self, op, params: dict, index: torch.Tensor) -> None:
        """Run the point op ``op`` (one of :data:`POINT_OPS`, with the params of the samples ``index``) on the
        samples ``index``: on their tables."""
        table = select_rows(self.luts, index).unsqueeze(2)
        write_rows_(self.luts, index, op.apply(table, None, params)[0].squeeze(2))
        self.pending.index_fill_(0, index, True)

    def apply_many(self, entries: list[tuple[str, object, dict, torch.Tensor]]) -> None:
        """Run several statistic and pixel ops (``(name, op, params of its samples, its samples)``, no sample in two
        entries, as the ops of one slot) on their samples, materialized, read and written back together."""
        if not entries:
            return
        index = entries[0][3] if len(entries) == 1 else torch.cat([entry[3] for entry in entries])
        self.materialize(index)
        rows = select_rows(self.pixels, index)
        tables, table_rows, pixels, pixel_rows, start = [], [], [], [], 0
        for name, op, params, part in entries:
            mine = rows[start : start + len(part)]
            start += len(part)
            if name in PIXEL_OPS:
                pixels.append(op.apply(mine, None, params)[0])
                pixel_rows.append(part)
            else:
                tables.append(self._statistic_table(name, mine, params))
                table_rows.append(part)
        if pixels:
            write_rows_(self.pixels, _joined(pixel_rows), _joined(pixels))
        if tables:
            changed = _joined(table_rows)
            write_rows_(self.luts, changed, _joined(tables))
            self.pending.index_fill_(0, changed, True)

    def _statistic_table(self, name: str, rows: torch.Tensor, params: dict) -> torch.Tensor:
        """The ``[k, C, 256]`` table of statistic op ``name`` on the (materialized) ``rows``."""
        identity = self.ramp[: len(rows)].unsqueeze(2)
        if name == "contrast":  # one table for every channel (mean grey and factor are the sample's)
            table = blend_with_grey(identity[:, :1], mean_grey(rows), params["factor"]).expand_as(identity)
        elif name == "auto_contrast":
            low, high = rows.amin(dim=(-2, -1), keepdim=True), rows.amax(dim=(-2, -1), keepdim=True)
            table = stretch(identity, low, high, params["applied"].to(torch.bool))
        elif name == "equalize":
            applied = params["applied"].to(torch.bool).view(-1, 1, 1)
            table = torch.where(applied, equalize_luts(rows), identity.squeeze(2)).unsqueeze(2)
        else:
            raise ValueError(
                f"no lookup-table form for op {name!r}; ops: {sorted(POINT_OPS | STATISTIC_OPS | PIXEL_OPS)}"
            )
        return table.squeeze(2)

    def compose_tables(self, tables: torch.Tensor, point: torch.Tensor) -> None:
        """Follow every sample's table by its row of ``tables`` ``[B, C, 256]`` (the identity for samples whose op
        is not a point op, ``point`` ``[B]`` bool): ``luts = tables[luts]``."""
        self.luts = tables.gather(2, self.luts.long())
        self.pending |= point

    def materialize(self, index: torch.Tensor) -> None:
        """Apply the pending tables of the samples ``index`` to their pixels and reset them to the identity."""
        index = index[self.pending.index_select(0, index)]
        if index.numel() == 0:
            return
        apply_luts_rows(self.pixels, self.luts, index)
        write_rows_(self.luts, index, self.ramp[: len(index)])
        self.pending.index_fill_(0, index, False)

    def finish(
        self, matrices: torch.Tensor | None, warped: torch.Tensor | None, interpolation: str, fill
    ) -> torch.Tensor:
        """Apply every sample's table, then warp the ``warped`` samples by their forward ``matrices`` ``[B, 3, 3]``
        (``None``: no sample has geometry)."""
        self._apply_tables()
        if matrices is not None:
            warp_rows_(self.pixels, matrices, warped.nonzero().squeeze(1), interpolation, fill)
        return self.pixels

    def finish_framed(self, where: torch.Tensor, warped: torch.Tensor, fill) -> torch.Tensor:
        """:meth:`finish` for a nearest warp whose framed source indices are made (``where`` ``[k, H * W]`` int32
        for the samples ``warped`` ``[k]``, :func:`~effl_plugins.augment.kernels.remap.framed_source_index`)."""
        self._apply_tables()
        warp_rows_framed_(self.pixels, where, warped, fill)
        return self.pixels

    def _apply_tables(self) -> None:
        """Apply every sample's table that is not the identity to its pixels."""
        pending = self.pending & (self.luts != self.ramp).flatten(1).any(1)
        apply_luts_rows(self.pixels, self.luts, pending.nonzero().squeeze(1))
