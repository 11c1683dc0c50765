"""RandAugment (Cubuk et al. 2020, "RandAugment: Practical automated data augmentation with a
reduced search space"): each image gets ``num_ops`` ops drawn uniformly (with replacement) from
14, all at magnitude M on the 0..30 scale, each op's direction (sign) a coin flip.

Order: every sample first runs its colour ops in slot order, then ONE warp by the product of its geometric ops'
matrices, composed in slot order (torchvision interleaves them; here one interpolation instead of up to N, and the
fill colour is never recoloured). Both backends use this order.

The batch backend's paths, each equal bit for bit to :meth:`RandAugment._apply_op_by_op` (the reference):

- uint8 on the CPU, small batches (:data:`_PER_SAMPLE_BATCH`, :data:`_PER_SAMPLE_PIXELS`): sample by sample by the
  image backend's ops (NumPy and OpenCV), then its nearest warp as one gather from cached framed source indices;
- uint8 on the CPU, larger batches: :mod:`.lut_chain`, then one warp of the samples whose composed matrix is not
  the identity;
- float on the CPU: each op on the samples that drew it (``_apply_drawn_ops``), then the warp (float32 and float64
  nearest: the cached framed indices);
- any dtype on an accelerator: :mod:`.device_path`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ..base import Augmentation, image_backend
from ..functional import matrices
from ..functional.warp import check_fill, check_interpolation, warp_affine, warp_affine_image
from ..kernels.affine import fill_tensor, invert_affine
from ..kernels.remap import framed_index_applies, framed_source_index, warp_rows_, warp_rows_framed_
from . import device_path
from .device_path import BIN_LEVELS, RAND_AUGMENT_SPACE, composed_geometry, draw_codes, rand_augment_batch
from .lut_chain import POINT_OPS, LutChain
from .magnitude import checked_magnitudes, magnitude_range_error
from .op_space import (
    GEOMETRIC,
    build_ops,
    check_op_names,
    check_rand_augment_args,
    sample_magnitudes,
    sample_magnitudes_image,
)

__all__ = ["RandAugment", "RandAugmentImage"]

_MATRIX_CACHE = 4096
_BINS = len(BIN_LEVELS)


@functools.lru_cache(maxsize=256)
def _slot_offsets(slots: int, count: int, device: torch.device) -> torch.Tensor:
    """``[N, 1]``: ``slot * count``, the key offset of each slot's draws."""
    return (torch.arange(slots, device=device) * count).view(slots, 1)


@functools.lru_cache(maxsize=256)
def _sample_of_position(batch: int, slots: int, device: torch.device) -> torch.Tensor:
    """``[N * B]``: the sample of each position of the slot-major flattened draws."""
    return torch.arange(batch, device=device).repeat(slots)


@functools.lru_cache(maxsize=64)
def _powers(base: int, slots: int, device: torch.device) -> torch.Tensor:
    """``[base ** slot]`` int64 for the slots (read, never written)."""
    return torch.tensor([base**slot for slot in range(slots)], device=device)


#: the largest uint8 CPU batch, in samples and in pixels per channel, that runs sample by sample
#: (:meth:`RandAugment._apply_per_sample`); the measurements that set them: ``benchmarks/RESULTS.md``, small calls
_PER_SAMPLE_BATCH = 32
_PER_SAMPLE_PIXELS = 1 << 18
#: the float dtypes whose nearest warp on the CPU is read from the cached framed indices (a gather copies values)
_GATHERED = (torch.float32, torch.float64)
#: the most slots whose chains :class:`_WarpPlan` keys (an int64 key holds up to six draws of 869 codes)
_PLAN_SLOTS = 6
#: the most CPU draws (``B * N``) grouped and looked up by Python lists, not tensor ops (``benchmarks/RESULTS.md``)
_LISTED_DRAWS = 64


def _listed_groups(rows: list[list[int]], slots: int) -> list[list[tuple[int, torch.Tensor]]]:
    """:meth:`RandAugment._groups` of the draws ``rows`` (``[B][N]`` op indices) by Python lists: per slot, the ops
    drawn there ascending, each with its samples ascending (int64 CPU tensors)."""
    groups = []
    for slot in range(slots):
        by_op: dict[int, list[int]] = {}
        for sample, row in enumerate(rows):
            by_op.setdefault(row[slot], []).append(sample)
        groups.append([(k, torch.tensor(by_op[k])) for k in sorted(by_op)])
    return groups


#: the most int32 indices :class:`_WarpPlan` keeps per image size (16 MB: 4096 chains at 32 x 32, 83 at 224 x 224)
_PLAN_INDICES = 1 << 22


class _WarpPlan:
    """Per image size and op set: the framed source index and whether it is the identity, per chain of slot
    matrices (:meth:`RandAugment._warp_plan`). Entries are added, never changed; a full cache starts again on new
    buffers, so rows read before stay what they were. ``lock`` guards the keys and the buffers: a module called from
    several threads shares its plans (:meth:`lookup` holds it; a reader of ``rows`` holds it)."""

    def __init__(self, step_table: torch.Tensor, geometric_ops: frozenset[int], count: int, height: int, width: int):
        geometric = torch.tensor([k in geometric_ops for k in range(count)]).repeat_interleave(2 * _BINS)
        others = (~geometric).nonzero().squeeze(1)
        self.representative = None
        if len(others):
            flat = step_table.index_select(0, others).view(len(others), -1).view(torch.int32)
            if bool((flat == flat[:1]).all()):  # every non-geometric slot matrix is the same, bit for bit
                self.representative = int(others[0])
        self.geometric, self.base = geometric.to(step_table.device), count * 2 * _BINS + 1
        self.geometric_codes = geometric.tolist()
        self.needs_representative = not bool(geometric.all())
        self.height, self.width = height, width
        self.capacity = max(1, _PLAN_INDICES // max(1, height * width))
        self.lock = threading.Lock()
        self._start_again()

    def _start_again(self) -> None:
        """No entries, on new empty buffers (views of the old ones, handed out before, keep their rows)."""
        self.rows: dict[int, int] = {}
        self.identity = torch.zeros(0, dtype=torch.bool, device=self.geometric.device)
        self.where = torch.zeros(0, self.height * self.width, dtype=torch.int32, device=self.geometric.device)

    def _append(self, identity: torch.Tensor, where: torch.Tensor) -> None:
        """Write new entries after the used rows, growing the buffers geometrically."""
        used, count = len(self.rows), len(identity)
        if used + count > len(self.where):
            rows = min(self.capacity, max(2 * len(self.where), used + count, 16))
            grown = self.where.new_empty((rows, self.where.shape[1]))
            grown[:used] = self.where[:used]
            flags = self.identity.new_zeros(rows)
            flags[:used] = self.identity[:used]
            self.where, self.identity = grown, flags
        self.where[used : used + count] = where
        self.identity[used : used + count] = identity

    def _lookup_listed(self, codes: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:meth:`lookup` of draws whose chains are all cached already, by Python lists (None if one is not)."""
        entries = [self.rows.get(self.key(row)) for row in codes]
        if None in entries:
            return None
        flags = self.identity.numpy()  # CPU draws: the cache is on the CPU
        warped = [sample for sample, entry in enumerate(entries) if not flags[entry]]
        where = self.where.index_select(0, torch.tensor([entries[sample] for sample in warped], dtype=torch.int64))
        return where, torch.tensor(warped, dtype=torch.int64)

    def key(self, codes: list[int]) -> int:
        """The key of one sample's draws (a list of :func:`.device_path.draw_codes`), as :meth:`lookup` makes it."""
        geometric, representative = self.geometric_codes, self.representative
        key, power = 0, 1
        for code in codes:
            key += (code if representative is None or geometric[code] else representative) * power
            power *= self.base
        return key

    def lookup(self, step_table: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(where [k, H * W], warped samples [k])`` of the draws ``codes``, their missing chains added; None where
        the cache does not serve them. Under :attr:`lock`."""
        with self.lock:
            return self.lookup_locked(step_table, codes)

    def lookup_locked(self, step_table: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:meth:`lookup` for a caller that holds :attr:`lock`."""
        if codes.device.type == "cpu" and codes.numel() <= _LISTED_DRAWS:
            found = self._lookup_listed(codes.tolist())
            if found is not None:
                return found
        slots = codes.shape[1]
        chain = codes if self.representative is None else torch.where(self.geometric[codes], codes, self.representative)
        powers = _powers(self.base, slots, codes.device)
        keys = (chain * powers).sum(1)
        unique, inverse = torch.unique(keys, return_inverse=True)
        listed = unique.tolist()
        missing = [j for j, key in enumerate(listed) if key not in self.rows]
        if missing:
            if len(self.rows) + len(missing) > self.capacity:
                if len(listed) > self.capacity:
                    return None
                self._start_again()
                missing = list(range(len(listed)))
            new = unique.index_select(0, torch.tensor(missing, device=codes.device))
            decoded = torch.stack([(new // self.base**slot) % self.base for slot in range(slots)], 1)
            total = device_path._tabled_geometry(step_table, decoded)
            inverse_matrices = invert_affine(total)
            if not framed_index_applies(inverse_matrices, self.height, self.width):
                return None
            identity = ~(total != matrices.identity(1, total.device)).flatten(1).any(1)
            where = framed_source_index(inverse_matrices, self.height, self.width)
            rows = dict(self.rows)
            rows.update((listed[j], len(self.rows) + i) for i, j in enumerate(missing))
            self._append(identity, where)
            self.rows = rows
        per_key = torch.tensor([self.rows[key] for key in listed], device=codes.device)
        per_sample = per_key.index_select(0, inverse)
        warped = (~self.identity.index_select(0, per_sample)).nonzero().squeeze(1)
        return self.where.index_select(0, per_sample.index_select(0, warped)), warped


def use_lut_chain(images: torch.Tensor) -> bool:
    """Whether ``apply`` takes the lookup-table path: uint8 images on the CPU."""
    return images.dtype == torch.uint8 and images.device.type == "cpu"


def _per_sample_serves(images: torch.Tensor) -> bool:
    """Whether a uint8 CPU batch is small enough for :meth:`RandAugment._apply_per_sample` (fastest there)."""
    batch, _, height, width = images.shape
    return batch <= _PER_SAMPLE_BATCH and batch * height * width <= _PER_SAMPLE_PIXELS


def _interleaved(planes: np.ndarray) -> np.ndarray:
    """One image's ``C x H x W`` planes as a new contiguous ``H x W x C`` image (OpenCV's channel merge)."""
    if len(planes) == 1:
        return planes.reshape(*planes.shape[1:], 1).copy()
    return cv2.merge(list(planes))


def _split_into(target: np.ndarray, img: np.ndarray) -> None:
    """Write an ``H x W x C`` image into the contiguous planes ``target`` ``[C, H, W]`` (OpenCV's channel split)."""
    if len(target) == 1:
        target[0] = img[..., 0]
        return
    planes = list(target)
    for written, plane in zip(cv2.split(img, planes), planes):
        if written is not plane:  # OpenCV made a new array rather than filling the plane given
            plane[...] = written


def _where_chosen(images: torch.Tensor, chosen: torch.Tensor, run, subset: bool | None = None) -> torch.Tensor:
    """``run(subset, index)`` on the samples where ``chosen`` holds, the others unchanged: only those samples when
    ``subset`` (default: on the CPU), else the whole batch and ``torch.where`` (no device-to-host sync)."""
    if images.device.type == "cpu" if subset is None else subset:
        index = chosen.nonzero().squeeze(1)
        if index.numel() == 0:
            return images
        return images.index_copy(0, index, run(images.index_select(0, index), index))
    everyone = torch.arange(len(images), device=images.device)
    return torch.where(chosen[:, None, None, None], run(images, everyone), images)


class RandAugment(Augmentation):
    """Per-sample RandAugment on a batch, or on one image (``backend="image"``).

    Args:
        num_ops: N, ops per image (default 2).
        magnitude: M on the 0..30 scale (default 9, torchvision's).
        magnitude_std: per-op Gaussian noise on M, clipped to [0, 30]; ``inf`` draws M' ~ U(0, M).
        ops: restrict the op set (names from ``op_space.RAND_AUGMENT_OPS``); default all 14.
        interpolation, fill: of the geometric ops' warp (``"nearest"`` or ``"bilinear"``; fill in image units).
        backend: ``"batch"`` (default) or ``"image"``: the same distribution and order on one ``H x W x C`` uint8
            image (NumPy and OpenCV ops).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``ops`` ``[B, N]`` int64 (index into
        ``self.op_names``), ``magnitude`` ``[B, N]`` float32 in [0, 1] (M / 30), ``sign`` ``[B, N]`` float32 (+-1).
        Image backend: ``ops``, ``magnitude``, ``sign`` ``[N]`` arrays.

    Example:
        >>> aug = RandAugment(num_ops=2, magnitude=9)
        >>> x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> aug.last_params["ops"].shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 9,
        magnitude_std: float = 0.0,
        ops: Sequence[str] | None = None,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.num_ops, self.magnitude, self.magnitude_std = check_rand_augment_args(num_ops, magnitude, magnitude_std)
        self.op_names = check_op_names(ops)
        self.interpolation = check_interpolation(interpolation)
        self.fill = check_fill(fill)
        self._ops = build_ops(self.op_names, backend, self.interpolation, self.fill)
        self._matrices: dict[tuple, np.ndarray] = {}  # the image backend's cache of warp matrices
        self._geometric = frozenset(k for k, name in enumerate(self.op_names) if name in GEOMETRIC)
        self._geometric_mask = torch.tensor([name in GEOMETRIC for name in self.op_names])
        self._colour = tuple(name != "identity" and name not in GEOMETRIC for name in self.op_names)

    def _sample_magnitudes(self, shape, device, generator) -> torch.Tensor:
        return sample_magnitudes(shape, self.magnitude, self.magnitude_std, device, generator)

    def sample_params(self, images, generator=None):
        shape, device = (images.shape[0], self.num_ops), images.device
        where = generator.device if generator is not None else device
        ops = torch.randint(len(self.op_names), shape, generator=generator, device=where).to(device)
        magnitude = self._sample_magnitudes(shape, device, generator)
        sign = torch.where(torch.rand(shape, generator=generator, device=where) < 0.5, -1.0, 1.0).to(device)
        self.__dict__["_sampled"] = (ops, magnitude, sign, (ops._version, magnitude._version, sign._version))
        return {"ops": ops, "magnitude": magnitude, "sign": sign}

    def _just_sampled(self, params) -> bool:
        """Whether ``params`` holds the very tensors of the last ``sample_params``, unchanged since (valid by
        construction: no need to check their values again)."""
        sampled = self.__dict__.get("_sampled")
        if sampled is None or not isinstance(params, dict):
            return False
        tensors = tuple(params.get(key) for key in ("ops", "magnitude", "sign"))
        return all(a is b for a, b in zip(tensors, sampled[:3])) and sampled[3] == tuple(t._version for t in tensors)

    def _sampled_codes(self, ops: torch.Tensor, magnitude: torch.Tensor, sign: torch.Tensor) -> torch.Tensor | None:
        """:func:`.device_path.draw_codes` of fresh draws, unchecked: at an integer M without noise every magnitude is
        ``float32(M) / 30``, the level of bin M; else None."""
        if self.magnitude_std != 0 or not float(self.magnitude).is_integer():
            return None
        return ops.mul(2 * _BINS).add_(2 * int(self.magnitude)).add_(sign > 0)  # (op * bins + M) * 2 + (sign > 0)

    def _op_params(self, k: int, images: torch.Tensor, magnitude: torch.Tensor, sign: torch.Tensor) -> dict:
        return self._ops[k].params_from_magnitude(images, magnitude, sign)

    def apply(self, images, targets, params):
        fresh = self._just_sampled(params)
        ops, magnitude, sign = self._checked(params, images.shape[0], values=not fresh)
        if images.device.type != "cpu":
            return self._apply_device_path(images, ops, magnitude, sign), targets
        codes = self._sampled_codes(ops, magnitude, sign) if fresh and ops.numel() else None
        if not use_lut_chain(images):
            run = self._apply_drawn_ops
        else:
            run = self._apply_per_sample if _per_sample_serves(images) else self._apply_lut_chain
        return run(images, ops, magnitude, sign, codes, checked=not fresh), targets

    def _apply_drawn_ops(self, images, ops, magnitude, sign, codes=None, checked=True):
        """Float on the CPU: :meth:`_apply_op_by_op` visiting only the ops drawn (:meth:`_groups`), with the params
        tables at integer bins and the composed geometry by table. Arguments as :meth:`_apply_lut_chain`."""
        if not ops.numel():
            return images.clone()
        magnitude32, sign32 = magnitude.to(torch.float32), sign.to(torch.float32)
        if codes is None and checked:
            codes = draw_codes(ops, magnitude32, sign32)
        _, param_rows = self._draw_tables(images, ops, codes)
        slots, any_geometry = self._colour_draws(ops)
        out = images
        with checked_magnitudes():
            for slot, colour in enumerate(slots):
                for k, index in colour:
                    subset = out.index_select(0, index)
                    params = self._draw_params(k, slot, index, subset, magnitude, sign, param_rows)
                    if out is images:  # one copy of the batch, written in place by each op's samples
                        out = images.clone(memory_format=torch.contiguous_format)
                    out.index_copy_(0, index, self._ops[k].apply(subset, None, params)[0])
        if any_geometry and images.dtype in _GATHERED:
            plan = self._warp_plan(images, codes)
            if plan is not None:  # the nearest warp as a gather from the cached framed indices: the same values
                pixels = images.clone(memory_format=torch.contiguous_format) if out is images else out.contiguous()
                warp_rows_framed_(pixels, *plan, self.fill)
                return pixels
        if any_geometry:
            total = composed_geometry(images, ops, magnitude, sign, self.op_names, self._space, codes)
            warped = self._geometric_mask[ops].any(1)
            out = _where_chosen(
                out, warped, lambda subset, index: warp_affine(subset, total[index], self.interpolation, self.fill)
            )
        return images.clone() if out is images else out

    def _draw_tables(self, images: torch.Tensor, ops: torch.Tensor, codes: torch.Tensor | None):
        """For draws at integer bins (``codes``): :meth:`_point_bank` and ``(param bank, each draw's row in it)``; else
        ``(None, None)``."""
        if codes is None:
            return None, None
        bank = self._point_bank(images)
        param_bank = self._param_bank[(images.shape[1], images.device, self._space)]
        return bank, (param_bank, codes - ops * (2 * _BINS))

    def _colour_draws(self, ops: torch.Tensor) -> tuple[list[list[tuple[int, torch.Tensor]]], bool]:
        """Per slot, the colour ops drawn there (:meth:`_groups` without the identity and the geometric ops), and
        whether any geometric op was drawn."""
        geometric, slots, any_geometry = self._geometric, [], False
        for groups in self._groups(ops):
            any_geometry = any_geometry or any(k in geometric for k, _ in groups)
            slots.append([(k, index) for k, index in groups if k not in geometric and self.op_names[k] != "identity"])
        return slots, any_geometry

    def _draw_params(self, k, slot, index, like, magnitude, sign, param_rows) -> dict:
        """Op ``k``'s params for the samples ``index`` that drew it at ``slot``: rows of its table of params
        (``param_rows`` from :meth:`_draw_tables`) where it has one, else computed for ``like`` (their shape)."""
        if param_rows is not None and k in param_rows[0]:
            rows = param_rows[1][:, slot].index_select(0, index)
            return {key: value.index_select(0, rows) for key, value in param_rows[0][k].items()}
        return self._op_params(k, like, magnitude[index, slot], sign[index, slot])

    #: the ranges of the ops (TrivialAugment's wide space overrides it)
    _space = RAND_AUGMENT_SPACE

    def _apply_device_path(self, images, ops, magnitude, sign):
        """Images on an accelerator: :func:`.device_path.rand_augment_batch`."""
        magnitude, sign = magnitude.to(torch.float32), sign.to(torch.float32)
        return rand_augment_batch(
            images, ops, magnitude, sign, self.op_names, self._space, self.interpolation, self.fill
        )

    def _geometry_op_by_op(
        self, images: torch.Tensor, ops: torch.Tensor, magnitude: torch.Tensor, sign: torch.Tensor
    ) -> torch.Tensor:
        """Each sample's geometric ops composed in slot order from the ops' own ``matrix_from_params``: ``[B, 3, 3]``
        forward matrices (the reference the other paths' :func:`.device_path.composed_geometry` is tested against)."""
        height, width = images.shape[-2:]
        total = matrices.identity(len(images), images.device)
        for slot in range(ops.shape[1]):
            step = matrices.identity(len(images), images.device)
            for k, name in enumerate(self.op_names):
                if name in GEOMETRIC:
                    matrix = self._ops[k].matrix_from_params(
                        self._op_params(k, images, magnitude[:, slot], sign[:, slot]), height, width
                    )
                    step = torch.where((ops[:, slot] == k)[:, None, None], matrix, step)
            total = step @ total
        return total

    def _groups(self, ops: torch.Tensor) -> list[list[tuple[int, torch.Tensor]]]:
        """Per slot, the ``(op index, samples that drew it)`` pairs of the ops drawn there, both ascending, from one
        sort and one count of all ``[B, N]`` draws."""
        batch, slots = ops.shape
        if ops.device.type == "cpu" and batch * slots <= _LISTED_DRAWS:
            return _listed_groups(ops.tolist(), slots)
        count = len(self.op_names)
        keys = ops.t() + _slot_offsets(slots, count, ops.device)  # slot-major: slot * K + op
        flat = keys.reshape(-1)
        counts = torch.bincount(flat, minlength=slots * count).tolist()
        samples = _sample_of_position(batch, slots, ops.device).index_select(0, torch.argsort(flat, stable=True))
        groups, start = [[] for _ in range(slots)], 0
        for position, size in enumerate(counts):  # the slots' ops in order; a slice per op drawn
            if size:
                groups[position // count].append((position % count, samples[start : start + size]))
                start += size
        return groups

    def _apply_lut_chain(self, images, ops, magnitude, sign, codes=None, checked=True):
        """uint8 on the CPU: the colour ops drawn folded into per-sample tables (:mod:`.lut_chain`; a slot's point ops
        one gather from :meth:`_point_bank` at integer bins), then one warp of the samples whose composed matrix is
        not the identity. ``codes``: the draws' :func:`.device_path.draw_codes` when known (fresh draws);
        ``checked=False``: fresh draws off the bins (magnitude noise), whose codes are not looked for."""
        chain = LutChain(images)
        magnitude, sign = magnitude.to(torch.float32), sign.to(torch.float32)
        if codes is None and checked and ops.numel():
            codes = draw_codes(ops, magnitude, sign)
        bank, param_rows = self._draw_tables(images, ops, codes)
        slots, any_geometry = self._colour_draws(ops)
        with checked_magnitudes():  # checked once for all slots in ``_checked``
            for slot, colour in enumerate(slots):
                points, entries = False, []
                for k, index in colour:
                    name = self.op_names[k]
                    if bank is not None and name in POINT_OPS:
                        points = True
                        continue
                    like = images[:1].expand(len(index), -1, -1, -1)  # the shape of the ops' params, no copy
                    params = self._draw_params(k, slot, index, like, magnitude, sign, param_rows)
                    if name in POINT_OPS:
                        chain.apply_point(self._ops[k], params, index)
                    else:
                        entries.append((name, self._ops[k], params, index))
                chain.apply_many(entries)  # a slot's statistic and pixel ops: their samples read and written once
                if points:  # the statistic and pixel ops of the slot have run: their samples' tables are the identity
                    column = codes[:, slot]
                    chain.compose_tables(
                        bank.index_select(0, column), self._bank_point[column.device].index_select(0, column)
                    )
        if not any_geometry:
            return chain.finish(None, None, self.interpolation, self.fill)
        plan = self._warp_plan(images, codes)
        if plan is not None:
            return chain.finish_framed(*plan, self.fill)
        total = composed_geometry(images, ops, magnitude, sign, self.op_names, self._space, codes)
        warped = (total != matrices.identity(1, images.device)).flatten(1).any(1)
        return chain.finish(total, warped, self.interpolation, self.fill)

    def _apply_per_sample(self, images, ops, magnitude, sign, codes=None, checked=True):
        """uint8 on the CPU, small batches: :meth:`_per_sample`, warped by :meth:`_sample_warps` where the cache
        serves, else as in :meth:`_apply_lut_chain` (arguments as there)."""
        magnitude, sign = magnitude.to(torch.float32), sign.to(torch.float32)
        if codes is None and checked and ops.numel():
            codes = draw_codes(ops, magnitude, sign)
        rows = ops.tolist()
        geometric = self._geometric
        any_geometry = any(k in geometric for row in rows for k in row)
        warps = self._sample_warps(images, codes) if any_geometry else [None] * len(images)
        pixels = self._per_sample(images, rows, magnitude.tolist(), sign.tolist(), warps)
        if warps is not None:
            return pixels
        total = composed_geometry(images, ops, magnitude, sign, self.op_names, self._space, codes)
        warped = (total != matrices.identity(1, images.device)).flatten(1).any(1)
        warp_rows_(pixels, total, warped.nonzero().squeeze(1), self.interpolation, self.fill)
        return pixels

    def _sample_warps(self, images: torch.Tensor, codes: torch.Tensor | None) -> list[np.ndarray | None] | None:
        """Per sample, the framed source index ``[H * W]`` int32 of its nearest warp (:meth:`_warp_plan`), None for a
        sample whose composed matrix is the identity; None where the cache does not serve these draws."""
        if codes is None or self.interpolation != "nearest" or codes.shape[1] > _PLAN_SLOTS:
            return None
        found = self._plan(images)
        if found is None:
            return None
        plan, step_table = found
        keys = [plan.key(row) for row in codes.tolist()]
        with plan.lock:
            if any(key not in plan.rows for key in keys) and plan.lookup_locked(step_table, codes) is None:
                return None
            where, identity = plan.where.numpy(), plan.identity.numpy()
            rows = [plan.rows[key] for key in keys]
        return [None if identity[row] else where[row] for row in rows]

    def _per_sample(
        self, images: torch.Tensor, ops: list, magnitude: list, sign: list, warps: list | None
    ) -> torch.Tensor:
        """A new contiguous ``[B, C, H, W]`` uint8 batch: every sample through its colour ops (``ops``, ``magnitude``,
        ``sign``: ``[B][N]`` lists) in slot order, each by the image backend's op with the image backend's params,
        then (``warps``, from :meth:`_sample_warps`) read at its framed source index."""
        twin = self._image_twin
        colour = self._colour
        out = torch.empty_like(images, memory_format=torch.contiguous_format)
        source, target = images.numpy(), out.numpy()
        channels = images.shape[1]
        planar = interleaved = None  # framed sources, made at first use
        for i, (row_ops, row_magnitude, row_sign) in enumerate(zip(ops, magnitude, sign)):
            img = None
            for k, m, s in zip(row_ops, row_magnitude, row_sign):
                if colour[k]:
                    img = _interleaved(source[i]) if img is None else img
                    img = twin._ops[k].apply(img, self._image_params(twin, k, img, m, s))
            where = None if warps is None else warps[i]
            if img is None and where is None:
                target[i] = source[i]
            elif img is None:  # warp only: gather from the sample's planes, framed
                planar = self._framed_source(images) if planar is None else planar
                planar[:, 1:-1, 1:-1] = source[i]
                np.take(planar.reshape(channels, -1), where, axis=1, out=target[i].reshape(channels, -1))
            else:
                img = img.reshape(*source.shape[2:], channels)
                if where is not None:  # gather whole pixels from the image, framed, before splitting it
                    if interleaved is None:
                        interleaved = self._framed_source(images).transpose(1, 2, 0).copy()
                    interleaved[1:-1, 1:-1] = img
                    img = np.take(interleaved.reshape(-1, channels), where, axis=0).reshape(img.shape)
                _split_into(target[i], img)
        return out

    def _framed_source(self, images: torch.Tensor) -> np.ndarray:
        """``[C, H + 2, W + 2]`` uint8 filled with the fill colour (a fresh copy of one made per image shape and
        fill), the source of one sample's framed warp: its inside is the image, its frame what uncovered pixels
        read."""
        channels, height, width = images.shape[1:]
        cache, key = self.__dict__.setdefault("_framed_sources", {}), (channels, height, width, images.dtype, self.fill)
        template = cache.get(key)
        if template is None:
            frame = torch.empty(channels, height + 2, width + 2, dtype=images.dtype)
            template = frame.copy_(fill_tensor(self.fill, images)[0].expand_as(frame)).numpy()
            template.flags.writeable = False
            cache[key] = template
        return template.copy()

    def _image_params(self, twin: RandAugment, k: int, img: np.ndarray, magnitude: float, sign: float) -> dict:
        """The image backend's params of colour op ``k`` at ``magnitude`` and ``sign`` for images of ``img``'s channel
        count: a function of those alone, remembered (up to :data:`_MATRIX_CACHE` of them), its arrays read-only."""
        cache = self.__dict__.setdefault("_image_param_cache", {})
        key = (k, magnitude, sign, img.shape[2:])
        params = cache.get(key)
        if params is None:
            if len(cache) >= _MATRIX_CACHE:
                cache.clear()
            params = twin._op_params(k, img, magnitude, sign)
            for value in params.values():
                if isinstance(value, np.ndarray):
                    value.flags.writeable = False
            cache[key] = params
        return params

    @functools.cached_property
    def _image_twin(self) -> RandAugment:
        """The image backend with this op set and these arguments."""
        return RandAugment(
            self.num_ops,
            self.magnitude,
            self.magnitude_std,
            self.op_names,
            self.interpolation,
            self.fill,
            backend="image",
        )

    def _point_bank(self, images: torch.Tensor) -> torch.Tensor:
        """``[K * 31 * 2, C, 256]`` uint8: the table of every point op (:data:`.lut_chain.POINT_OPS`) at every
        magnitude bin and sign (rows as :func:`.device_path.draw_codes`), the identity for the other ops, made by the
        ops on the ramp ``0..255`` once per channel count and device. Beside it, ``self._param_bank[(channels, device,
        space)]``: each other colour op's params at the ``31 * 2`` bins and signs (row ``bin * 2 + (sign > 0)``)."""
        channels = images.shape[1]
        banks = self.__dict__.setdefault("_banks", {})
        key = (channels, images.device, self._space)
        bank = banks.get(key)
        if bank is not None:
            return bank
        rows = 2 * _BINS
        ramp = torch.arange(256, dtype=torch.uint8, device=images.device)
        bank = ramp.expand(len(self.op_names) * rows, channels, 256).clone()
        magnitude = BIN_LEVELS.to(images.device).repeat_interleave(2)
        sign = torch.tensor([-1.0, 1.0], device=images.device).repeat(_BINS)
        like = images[:1].expand(rows, -1, -1, -1)
        table = ramp.view(1, 1, 1, 256).expand(rows, channels, 1, 256).contiguous()
        param_bank = {}
        with checked_magnitudes():
            for k, name in enumerate(self.op_names):
                if name == "identity" or name in GEOMETRIC:
                    continue
                params = self._op_params(k, like, magnitude, sign)
                if name in POINT_OPS:
                    bank[k * rows : (k + 1) * rows] = self._ops[k].apply(table, None, params)[0].squeeze(2)
                if all(isinstance(v, torch.Tensor) and v.ndim and len(v) == rows for v in params.values()):
                    param_bank[k] = params
        self.__dict__.setdefault("_param_bank", {})[key] = param_bank
        banks[key] = bank
        point = torch.tensor([name in POINT_OPS for name in self.op_names], device=images.device)
        self.__dict__.setdefault("_bank_point", {})[images.device] = point.repeat_interleave(rows)
        return bank

    def _warp_plan(self, images: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The nearest warp of the draws ``codes`` (:func:`.device_path.draw_codes`) from a cache of the framed source
        indices of each distinct chain of slot matrices: ``(where [k, H * W] int32, warped samples [k])``, or None
        where the cache does not serve (no codes, bilinear, more than :data:`_PLAN_SLOTS` slots, indices the framed
        warp refuses). A sample's key is its chain of geometric draws, every other draw counted as the one matrix
        they share."""
        if codes is None or self.interpolation != "nearest" or codes.shape[1] > _PLAN_SLOTS:
            return None
        found = self._plan(images)
        return None if found is None else found[0].lookup(found[1], codes)

    def _plan(self, images: torch.Tensor) -> tuple[_WarpPlan, torch.Tensor] | None:
        """The warp cache of this image size and its table of slot matrices, made once; None where it cannot key the
        draws (the non-geometric ops' slot matrices differ)."""
        height, width = images.shape[-2:]
        names = tuple(self.op_names)
        step_table = device_path._step_table(names, self._space, images.device, height, width, images.dtype)
        plans = self.__dict__.setdefault("_warp_plans", {})
        key = (height, width, images.device, self._space, step_table.dtype)
        plan = plans.get(key)
        if plan is None:
            plan = _WarpPlan(step_table, self._geometric, len(names), height, width)
            plans[key] = plan
        if plan.representative is None and plan.needs_representative:
            return None
        return plan, step_table

    def _apply_op_by_op(self, images, ops, magnitude, sign):
        """Any dtype and device: each op on the samples that chose it, then one warp of the composed geometry."""
        out = images
        for slot in range(ops.shape[1]):
            for k, name in enumerate(self.op_names):
                if name == "identity" or name in GEOMETRIC:
                    continue
                m, s = magnitude[:, slot], sign[:, slot]

                def run(subset, index, k=k, m=m, s=s):
                    return self._ops[k].apply(subset, None, self._op_params(k, subset, m[index], s[index]))[0]

                out = _where_chosen(out, ops[:, slot] == k, run)
        total = self._geometry_op_by_op(images, ops, magnitude, sign)
        warped = self._geometric_mask.to(ops.device)[ops].any(1)
        out = _where_chosen(
            out, warped, lambda subset, index: warp_affine(subset, total[index], self.interpolation, self.fill)
        )
        return images.clone() if out is images else out

    def _checked(self, params, batch: int, values: bool = True):
        """``(ops, magnitude, sign)`` of ``params``, their shapes checked, and (``values``) their values."""
        try:
            ops, magnitude, sign = params["ops"].long(), params["magnitude"], params["sign"]
        except (KeyError, AttributeError) as exc:
            raise ValueError(
                f"params must hold tensors 'ops', 'magnitude' and 'sign' of shape [B, N], got {params!r}"
            ) from exc
        if ops.ndim != 2 or magnitude.shape != ops.shape or sign.shape != ops.shape or len(ops) != batch:
            raise ValueError(
                f"params 'ops', 'magnitude', 'sign' must share the shape [B, N] with B={batch}, got "
                f"{tuple(ops.shape)}, {tuple(magnitude.shape)}, {tuple(sign.shape)}"
            )
        if not values:
            return ops, magnitude, sign
        if ops.device.type == "cpu" and ops.numel() and not bool(((ops >= 0) & (ops < len(self.op_names))).all()):
            raise ValueError(
                f"params['ops'] must index the {len(self.op_names)} ops {self.op_names}, got {ops.tolist()}"
            )
        if (
            magnitude.device.type == "cpu"
            and sign.device.type == "cpu"
            and magnitude.dtype.is_floating_point
            and sign.dtype.is_floating_point
            and ops.numel()
        ):
            error = magnitude_range_error(magnitude, sign)
            if error is not None:
                raise error
        return ops, magnitude, sign

    # -- the image backend (``backend="image"``): one ``H x W x C`` uint8 image --

    def _sample_magnitudes_image(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return sample_magnitudes_image(count, self.magnitude, self.magnitude_std, rng)

    def sample_params_image(self, img, rng):
        ops = rng.integers(len(self.op_names), size=self.num_ops)
        magnitude = self._sample_magnitudes_image(self.num_ops, rng)
        sign = np.where(rng.random(self.num_ops) < 0.5, -1.0, 1.0).astype(np.float32)
        return {"ops": ops, "magnitude": magnitude, "sign": sign}

    def _matrix(self, k: int, img: np.ndarray, magnitude: float, sign: float) -> np.ndarray:
        """Geometric op ``k``'s float64 forward matrix, a pure function of its arguments: remembered
        (up to :data:`_MATRIX_CACHE` of them), since RandAugment's magnitudes repeat unless ``magnitude_std`` > 0."""
        key = (k, magnitude, sign, img.shape[0], img.shape[1])
        matrix = self._matrices.get(key)
        if matrix is None:
            if len(self._matrices) >= _MATRIX_CACHE:
                self._matrices.clear()
            params = self._op_params(k, img, magnitude, sign)
            matrix = np.asarray(self._ops[k].matrix_from_params(params, img.shape[0], img.shape[1]), dtype=np.float64)
            matrix.flags.writeable = False
            self._matrices[key] = matrix
        return matrix

    def apply_image(self, img, params):
        height, width = img.shape[:2]
        total, warped, original = np.eye(3), False, img
        for k, m, s in zip(
            np.asarray(params["ops"]).tolist(),
            np.asarray(params["magnitude"]).tolist(),
            np.asarray(params["sign"]).tolist(),
        ):
            if not 0 <= k < len(self.op_names):
                raise ValueError(f"params['ops'] must index the {len(self.op_names)} ops {self.op_names}, got {k}")
            name = self.op_names[k]
            if name == "identity":
                continue
            if name in GEOMETRIC:
                total, warped = self._matrix(k, img, float(m), float(s)) @ total, True
            else:
                img = self._ops[k].apply(img, self._op_params(k, img, float(m), float(s)))
        if warped:
            return warp_affine_image(img, total, self.interpolation, self.fill)
        return img.copy() if img is original else img


RandAugmentImage = image_backend(RandAugment)
