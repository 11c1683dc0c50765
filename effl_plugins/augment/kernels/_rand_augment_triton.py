"""The Triton kernels of batch RandAugment / TrivialAugment (:mod:`.rand_augment` launches them).

Every product, sum and quotient is rounded as the torch ops of :mod:`effl_plugins.augment.auto.device_path`
round it: the kernels are launched with ``enable_fp_fusion=False``, so no multiply-add is contracted where torch
rounds twice; where torch rounds once (``addcmul``, ``linspace``) the float32 product is formed exactly in float64
and rounded once; every quotient is correctly rounded (``div_rn``). Imported only when launched
(``TRITON_INTERPRET=1`` runs them on the CPU).
"""

import triton
import triton.language as tl

from ._triton_kernels import round_half_even

# op kinds: the launcher maps every op index of the op set to one of these codes
NONE = tl.constexpr(0)
BRIGHTNESS = tl.constexpr(1)
CONTRAST = tl.constexpr(2)
COLOR = tl.constexpr(3)
SHARPNESS = tl.constexpr(4)
POSTERIZE = tl.constexpr(5)
SOLARIZE = tl.constexpr(6)
AUTO_CONTRAST = tl.constexpr(7)
EQUALIZE = tl.constexpr(8)
ROTATE = tl.constexpr(9)
SHEAR_X = tl.constexpr(10)
SHEAR_Y = tl.constexpr(11)
TRANSLATE_X = tl.constexpr(12)
TRANSLATE_Y = tl.constexpr(13)

# the float64 scalars of ``space_ptr``
ENHANCE = tl.constexpr(0)
ROTATE_TOP = tl.constexpr(1)
SHEAR_TOP = tl.constexpr(2)
POSTERIZE_TOP = tl.constexpr(3)
END_X = tl.constexpr(4)
END_Y = tl.constexpr(5)
CENTRE_X = tl.constexpr(6)
CENTRE_Y = tl.constexpr(7)
# the compute-dtype scalars of ``weights_ptr``: the luma weights and equalize's quantization scale
QUANTIZE = tl.constexpr(3)


@triton.jit
def _fma32(a, b, c):
    """``a * b + c`` rounded once to float32 (the product of two float32 values is exact in float64)."""
    return (a.to(tl.float64) * b.to(tl.float64) + c.to(tl.float64)).to(tl.float32)


@triton.jit
def _blend(x, factor, degenerate, IS_FLOAT64: tl.constexpr):
    """``addcmul(x * factor, degenerate, 1 - factor)`` in the compute dtype."""
    if IS_FLOAT64:
        return tl.fma(degenerate, 1.0 - factor, x * factor)
    return _fma32(degenerate, 1.0 - factor, x * factor)


@triton.jit
def _divide(a, b):
    """``a / b`` correctly rounded (float32 division is approximate unless asked; float64's is exact)."""
    if a.dtype == tl.float64:
        return a / b
    return tl.math.div_rn(a, b)


@triton.jit
def _trunc(v):
    return tl.where(v < 0.0, -tl.floor(-v), tl.floor(v))


@triton.jit
def _bin_value(first, last, magnitude):
    """``torch.linspace(first, last, 31)`` at bin ``30 * magnitude`` (float32), as torch computes it."""
    position = magnitude * 30.0
    step = _divide(last - first, 30.0)
    below = _fma32(step, position, first)
    above = _fma32(-step, 30.0 - position, last)
    return tl.where(position < 15.0, below, above)


@triton.jit
def _to_output(values, IS_UINT8: tl.constexpr):
    """Clamped to the value range; truncated to uint8 for uint8 images."""
    if IS_UINT8:
        return tl.minimum(tl.maximum(values, 0.0), 255.0).to(tl.uint8)
    return tl.minimum(tl.maximum(values, 0.0), 1.0)


@triton.jit
def _load(plane_ptr, offsets, mask, IS_UINT8: tl.constexpr):
    """Pixel values in the compute dtype (float32 for uint8 images, the image's float dtype otherwise)."""
    values = tl.load(plane_ptr + offsets, mask=mask, other=0)
    if IS_UINT8:
        return values.to(tl.float32)
    return values


@triton.jit
def _grey(sample_ptr, weights_ptr, offsets, mask, pixels, C3: tl.constexpr, IS_UINT8: tl.constexpr):
    """Luma of the pixels ``offsets``: the floor of the integer-weighted sum for uint8, torch's float sum
    ``r * 0.2989 + g * 0.587 + b * 0.114`` otherwise; the pixel itself for one channel."""
    if C3:
        r = tl.load(sample_ptr + offsets, mask=mask, other=0)
        g = tl.load(sample_ptr + pixels + offsets, mask=mask, other=0)
        b = tl.load(sample_ptr + 2 * pixels + offsets, mask=mask, other=0)
        if IS_UINT8:
            total = r.to(tl.int32) * 2989 + g.to(tl.int32) * 5870 + b.to(tl.int32) * 1140
            return (total // 10000).to(tl.float32)
        return r * tl.load(weights_ptr) + g * tl.load(weights_ptr + 1) + b * tl.load(weights_ptr + 2)
    return _load(sample_ptr, offsets, mask, IS_UINT8)


@triton.jit
def _mean_grey(sample_ptr, weights_ptr, pixels, C3: tl.constexpr, IS_UINT8: tl.constexpr, BLOCK: tl.constexpr):
    """The sample's mean grey level, summed in float64 (exact for uint8 images)."""
    lanes = tl.arange(0, BLOCK)
    total = tl.zeros([BLOCK], dtype=tl.float64)
    for start in range(0, pixels, BLOCK):
        offsets = start + lanes
        mask = offsets < pixels
        grey = _grey(sample_ptr, weights_ptr, offsets, mask, pixels, C3, IS_UINT8)
        total += tl.where(mask, grey.to(tl.float64), 0.0)
    return _divide(tl.sum(total, 0), pixels.to(tl.float64))


@triton.jit
def _range(plane_ptr, pixels, IS_UINT8: tl.constexpr, BLOCK: tl.constexpr):
    """Lowest and highest value of one channel (float64, exact)."""
    lanes = tl.arange(0, BLOCK)
    low = tl.full([BLOCK], float("inf"), dtype=tl.float64)
    high = tl.full([BLOCK], float("-inf"), dtype=tl.float64)
    for start in range(0, pixels, BLOCK):
        offsets = start + lanes
        mask = offsets < pixels
        values = _load(plane_ptr, offsets, mask, IS_UINT8).to(tl.float64)
        low = tl.minimum(low, tl.where(mask, values, float("inf")))
        high = tl.maximum(high, tl.where(mask, values, float("-inf")))
    return tl.min(low, 0), tl.max(high, 0)


@triton.jit
def _level(values, weights_ptr, IS_UINT8: tl.constexpr):
    """The uint8 level equalize reads: the value itself, or ``trunc(clamp(x * (256 - 1e-3), 0, 255))``."""
    if IS_UINT8:
        return values.to(tl.int32)
    scaled = values * tl.load(weights_ptr + QUANTIZE)
    return tl.minimum(tl.maximum(scaled, 0.0), 255.0).to(tl.int32)


@triton.jit
def _equalize_table(plane_ptr, table_ptr, weights_ptr, pixels, IS_UINT8: tl.constexpr, BLOCK: tl.constexpr):
    """PIL's equalization table of one channel (int32), written to ``table_ptr[0:256]``."""
    lanes = tl.arange(0, BLOCK)
    levels = tl.arange(0, 256)
    counts = tl.zeros([256], dtype=tl.int32)
    for start in range(0, pixels, BLOCK):
        offsets = start + lanes
        mask = offsets < pixels
        level = _level(_load(plane_ptr, offsets, mask, IS_UINT8), weights_ptr, IS_UINT8)
        counts += tl.histogram(tl.where(mask, level, 0), 256)
        counts -= tl.where(levels == 0, BLOCK - tl.sum(mask.to(tl.int32), 0), 0)  # masked lanes counted as 0
    last = tl.max(tl.where(counts > 0, levels, -1), 0)
    step = (pixels - tl.sum(tl.where(levels == last, counts, 0), 0)) // 255
    below = tl.cumsum(counts, 0) - counts  # pixels under each level
    table = tl.minimum((below + step // 2) // tl.maximum(step, 1), 255)
    table = tl.where(levels == 0, 0, table)
    table = tl.where(step == 0, levels, table)
    tl.store(table_ptr + levels, table)


@triton.jit
def _point_pass(
    plane_ptr,
    table_ptr,
    weights_ptr,
    pixels,
    kind,
    factor,
    low,
    high,
    level,
    threshold,
    IS_UINT8: tl.constexpr,
    IS_FLOAT64: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """One point op on one channel of one sample, in place.

    ``factor``: brightness's and contrast's; ``low``: contrast's mean grey or auto_contrast's channel minimum,
    ``high`` its maximum; ``level`` (uint8): posterize's mask of kept bits or the lowest value solarize inverts;
    ``threshold`` (float images): solarize's threshold or posterize's ``2 ** bits`` levels; ``table_ptr``:
    equalize's table of the channel.
    """
    lanes = tl.arange(0, BLOCK)
    for start in range(0, pixels, BLOCK):
        offsets = start + lanes
        mask = offsets < pixels
        x = _load(plane_ptr, offsets, mask, IS_UINT8)
        if kind == BRIGHTNESS:
            y = _to_output(x * factor, IS_UINT8)
        elif kind == CONTRAST:
            y = _to_output(_blend(x, factor, low, IS_FLOAT64), IS_UINT8)
        elif kind == AUTO_CONTRAST:
            if IS_UINT8:
                scale = (high - low) * (1.0 / 255.0)
            else:
                scale = high - low
            stretched = _to_output(_divide(x - low, scale), IS_UINT8)
            y = tl.where(high == low, _to_output(x, IS_UINT8), stretched)
        elif kind == POSTERIZE:
            if IS_UINT8:
                y = (x.to(tl.int32) & level).to(tl.uint8)
            else:
                posterized = _divide(tl.minimum(tl.floor(x * threshold), threshold - 1.0), threshold)
                y = tl.where(threshold < 256.0, posterized, x)
        elif kind == SOLARIZE:
            if IS_UINT8:
                y = tl.where(x >= level.to(tl.float32), 255.0 - x, x).to(tl.uint8)
            else:
                y = tl.where(x >= threshold, 1.0 - x, x)
        else:  # EQUALIZE
            mapped = tl.load(table_ptr + _level(x, weights_ptr, IS_UINT8), mask=mask, other=0)
            if IS_UINT8:
                y = mapped.to(tl.uint8)
            else:
                y = _divide(mapped.to(x.dtype), 255.0)
        tl.store(plane_ptr + offsets, y, mask=mask)


@triton.jit
def _color_pass(
    sample_ptr, weights_ptr, pixels, factor, IS_UINT8: tl.constexpr, IS_FLOAT64: tl.constexpr, BLOCK: tl.constexpr
):
    """color on three channels: each blended with the pixel's luma, in place."""
    lanes = tl.arange(0, BLOCK)
    for start in range(0, pixels, BLOCK):
        offsets = start + lanes
        mask = offsets < pixels
        grey = _grey(sample_ptr, weights_ptr, offsets, mask, pixels, True, IS_UINT8)
        for c in tl.static_range(3):
            x = _load(sample_ptr + c * pixels, offsets, mask, IS_UINT8)
            tl.store(
                sample_ptr + c * pixels + offsets, _to_output(_blend(x, factor, grey, IS_FLOAT64), IS_UINT8), mask=mask
            )


@triton.jit
def _sharpen_plane(
    plane_ptr, spare_ptr, height, width, alpha, IS_UINT8: tl.constexpr, IS_FLOAT64: tl.constexpr, BLOCK: tl.constexpr
):
    """sharpness on one channel: the inner pixels blended towards PIL's smoothing filter
    ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``, written to ``spare_ptr`` (border copied), then copied back."""
    lanes = tl.arange(0, BLOCK)
    pixels = height * width
    for start in range(0, pixels, BLOCK):
        offsets = start + lanes
        mask = offsets < pixels
        row = offsets // width
        col = offsets % width
        inner = mask & (row >= 1) & (row <= height - 2) & (col >= 1) & (col <= width - 2)
        centre = _load(plane_ptr, offsets, mask, IS_UINT8)
        total = centre * 5.0
        for tap in tl.static_range(9):
            if tap != 4:
                total += _load(plane_ptr, offsets + (tap // 3 - 1) * width + (tap % 3 - 1), inner, IS_UINT8)
        if IS_UINT8:  # round(total / 13), exact on the integer sum
            smooth = ((2 * total.to(tl.int32) + 13) // 26).to(tl.float32)
            value = _fma32(alpha, smooth - centre, centre)
        elif IS_FLOAT64:
            value = tl.fma(alpha, _divide(total, 13.0) - centre, centre)
        else:
            value = _fma32(alpha, _divide(total, 13.0) - centre, centre)
        value = tl.where(inner, value, centre)
        tl.store(spare_ptr + offsets, _to_output(value, IS_UINT8), mask=mask)
    tl.debug_barrier()
    for start in range(0, pixels, BLOCK):
        offsets = start + lanes
        mask = offsets < pixels
        tl.store(plane_ptr + offsets, tl.load(spare_ptr + offsets, mask=mask), mask=mask)
    tl.debug_barrier()


@triton.jit
def _affine_product(a00, a01, a02, a10, a11, a12, b00, b01, b02, b10, b11, b12):
    """``A @ B`` of affine 3x3 matrices (last rows ``0 0 1``), each entry summed in order as torch's small bmm."""
    return (
        (a00 * b00 + a01 * b10) + a02 * 0.0,
        (a00 * b01 + a01 * b11) + a02 * 0.0,
        (a00 * b02 + a01 * b12) + a02,
        (a10 * b00 + a11 * b10) + a12 * 0.0,
        (a10 * b01 + a11 * b11) + a12 * 0.0,
        (a10 * b02 + a11 * b12) + a12,
    )


@triton.jit
def _copy_sample(source_ptr, sample_ptr, count, BLOCK: tl.constexpr):
    lanes = tl.arange(0, BLOCK)
    for start in range(0, count, BLOCK):
        offsets = start + lanes
        mask = offsets < count
        tl.store(sample_ptr + offsets, tl.load(source_ptr + offsets, mask=mask), mask=mask)


@triton.jit
def _slot_matrix(kind, amount, magnitude, sign, cos_ptr, sin_ptr, index, space_ptr):
    """The forward matrix (top two rows) of one geometric slot: its rotation about the centre or its shear
    about the corner, then its shift (:func:`effl_plugins.augment.auto.device_path._geometry`)."""
    zero = amount * 0.0
    cx = tl.load(space_ptr + CENTRE_X).to(tl.float32)
    cy = tl.load(space_ptr + CENTRE_Y).to(tl.float32)
    sheared = (kind == SHEAR_X) | (kind == SHEAR_Y)
    cx = tl.where(sheared, -0.5, cx)
    cy = tl.where(sheared, -0.5, cy)
    # rotation: exact for multiples of 90 degrees, torch's cos and sin otherwise
    quotient = tl.floor(_divide(amount, 90.0))
    turns = quotient - 4.0 * tl.floor(quotient * 0.25)
    quarter = (quotient * 90.0 == amount) | (kind != ROTATE)
    angle_cos = tl.where(turns == 0.0, 1.0, tl.where(turns == 2.0, -1.0, 0.0))
    angle_sin = tl.where(turns == 1.0, 1.0, tl.where(turns == 3.0, -1.0, 0.0))
    angle_cos = tl.where(kind != ROTATE, 1.0, angle_cos)
    angle_sin = tl.where(kind != ROTATE, 0.0, angle_sin)
    cos = tl.where(quarter, angle_cos, tl.load(cos_ptr + index))
    sin = tl.where(quarter, angle_sin, tl.load(sin_ptr + index))
    sx = tl.where(kind == SHEAR_X, amount, zero)
    sy = tl.where(kind == SHEAR_Y, amount, zero)
    a00 = tl.where(sheared, 1.0, cos)
    a01 = tl.where(sheared, -sx, sin)
    a10 = tl.where(sheared, -sy, -sin)
    a11 = tl.where(sheared, 1.0 + sx * sy, cos)
    end_x = tl.load(space_ptr + END_X).to(tl.float32)
    end_y = tl.load(space_ptr + END_Y).to(tl.float32)
    shift_x = tl.where(kind == TRANSLATE_X, sign * _trunc(_bin_value(zero, end_x, magnitude)), zero)
    shift_y = tl.where(kind == TRANSLATE_Y, sign * _trunc(_bin_value(zero, end_y, magnitude)), zero)
    t0 = cx - (a00 * cx + a01 * cy) + shift_x
    t1 = cy - (a10 * cx + a11 * cy) + shift_y
    return a00, a01, t0, a10, a11, t1


@triton.jit
def _store_inverse(out_ptr, m00, m01, m02, m10, m11, m12, warped):
    """The inverse of a forward map (row-major 2x3, float32, inverted in float64) and the warped flag."""
    a = m00.to(tl.float64)
    b = m01.to(tl.float64)
    tx = m02.to(tl.float64)
    c = m10.to(tl.float64)
    d = m11.to(tl.float64)
    ty = m12.to(tl.float64)
    det = a * d - b * c
    ia = _divide(d, det)
    ib = _divide(-b, det)
    ic = _divide(-c, det)
    id_ = _divide(a, det)
    tl.store(out_ptr + 0, ia.to(tl.float32))
    tl.store(out_ptr + 1, ib.to(tl.float32))
    tl.store(out_ptr + 2, (-(ia * tx + ib * ty)).to(tl.float32))
    tl.store(out_ptr + 3, ic.to(tl.float32))
    tl.store(out_ptr + 4, id_.to(tl.float32))
    tl.store(out_ptr + 5, (-(ic * tx + id_ * ty)).to(tl.float32))
    tl.store(out_ptr + 6, warped)


@triton.jit
def chain_kernel(
    images_ptr,
    work_ptr,
    spare_ptr,
    table_ptr,
    ops_ptr,
    magnitude_ptr,
    sign_ptr,
    cos_ptr,
    sin_ptr,
    codes_ptr,
    space_ptr,
    weights_ptr,
    inverse_ptr,
    channels,
    height,
    width,
    slots,
    IS_UINT8: tl.constexpr,
    IS_FLOAT64: tl.constexpr,
    AMOUNT64: tl.constexpr,
    C3: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Grid ``(B,)``: sample ``b``'s colour ops in slot order on ``work[b]`` (a copy of ``images[b]``), and the
    inverse of its composed geometry in ``inverse[b, :6]`` (``inverse[b, 6]``: 1.0 if it drew a geometric op).

    ``ops``, ``magnitude``, ``sign``, ``cos``, ``sin``: ``[B, N]``; ``codes``: the kind of every op index;
    ``space``: float64 scalars (ENHANCE ... CENTRE_Y); ``weights``: the luma weights and equalize's scale in
    the compute dtype; ``spare``: a scratch batch; ``table``: ``[B, C, 256]`` int32 scratch.
    """
    sample = tl.program_id(0).to(tl.int64)
    pixels = height * width
    sample_ptr = work_ptr + sample * channels * pixels
    _copy_sample(images_ptr + sample * channels * pixels, sample_ptr, channels * pixels, BLOCK)
    tl.debug_barrier()
    enhance = tl.load(space_ptr + ENHANCE)
    m00 = tl.full((), 1.0, tl.float32)
    m01 = tl.full((), 0.0, tl.float32)
    m02 = tl.full((), 0.0, tl.float32)
    m10 = tl.full((), 0.0, tl.float32)
    m11 = tl.full((), 1.0, tl.float32)
    m12 = tl.full((), 0.0, tl.float32)
    warped = tl.full((), 0.0, tl.float32)
    for slot in range(slots):
        index = sample * slots + slot
        kind = tl.load(codes_ptr + tl.load(ops_ptr + index))
        magnitude = tl.load(magnitude_ptr + index)
        sign = tl.load(sign_ptr + index)
        top = tl.load(
            space_ptr + tl.where(kind == ROTATE, ROTATE_TOP, tl.where(kind == POSTERIZE, POSTERIZE_TOP, SHEAR_TOP))
        )
        signed = tl.where(kind == POSTERIZE, 1.0, sign)
        if AMOUNT64:
            amount_exact = (signed.to(tl.float64) * top) * magnitude.to(tl.float64)
        else:
            amount_exact = (signed * top.to(tl.float32)) * magnitude
        amount = amount_exact.to(tl.float32)
        factor = (1.0 + (sign.to(tl.float64) * enhance) * magnitude.to(tl.float64)).to(tl.float32)
        if IS_FLOAT64:
            factor = factor.to(tl.float64)
        if kind >= ROTATE:
            a00, a01, a02, a10, a11, a12 = _slot_matrix(
                kind, amount, magnitude, sign, cos_ptr, sin_ptr, index, space_ptr
            )
            m00, m01, m02, m10, m11, m12 = _affine_product(a00, a01, a02, a10, a11, a12, m00, m01, m02, m10, m11, m12)
            warped = tl.full((), 1.0, tl.float32)
        elif kind == COLOR:
            if C3:
                _color_pass(sample_ptr, weights_ptr, pixels, factor, IS_UINT8, IS_FLOAT64, BLOCK)
                tl.debug_barrier()
        elif kind == SHARPNESS:
            if (height > 2) & (width > 2):
                for c in range(channels):
                    _sharpen_plane(
                        sample_ptr + c * pixels,
                        spare_ptr + (sample * channels + c) * pixels,
                        height,
                        width,
                        1.0 - factor,
                        IS_UINT8,
                        IS_FLOAT64,
                        BLOCK,
                    )
        elif kind != NONE:
            bits = 8 - round_half_even(amount_exact).to(tl.int32)
            threshold = _bin_value(magnitude * 0.0 + 1.0, magnitude * 0.0, magnitude)
            # uint8: posterize's mask of kept bits, or the lowest value solarize inverts
            level = tl.where(
                kind == POSTERIZE,
                (255 << (8 - bits)) & 255,
                tl.minimum(tl.ceil((threshold.to(tl.float64) * 255.0).to(tl.float32)), 255.0).to(tl.int32),
            )
            # float images: posterize's levels, or solarize's threshold
            cut = tl.where(kind == POSTERIZE, (1 << bits).to(factor.dtype), threshold.to(factor.dtype))
            mean = factor * 0.0
            if kind == CONTRAST:
                mean = _mean_grey(sample_ptr, weights_ptr, pixels, C3, IS_UINT8, BLOCK).to(factor.dtype)
            for c in range(channels):
                plane_ptr = sample_ptr + c * pixels
                table = table_ptr + (sample * channels + c) * 256
                low = mean
                high = mean
                if kind == AUTO_CONTRAST:
                    low64, high64 = _range(plane_ptr, pixels, IS_UINT8, BLOCK)
                    low = low64.to(factor.dtype)
                    high = high64.to(factor.dtype)
                if kind == EQUALIZE:
                    _equalize_table(plane_ptr, table, weights_ptr, pixels, IS_UINT8, BLOCK)
                    tl.debug_barrier()
                _point_pass(
                    plane_ptr,
                    table,
                    weights_ptr,
                    pixels,
                    kind,
                    factor,
                    low,
                    high,
                    level,
                    cut,
                    IS_UINT8,
                    IS_FLOAT64,
                    BLOCK,
                )
            tl.debug_barrier()
    _store_inverse(inverse_ptr + sample * 7, m00, m01, m02, m10, m11, m12, warped)
