"""The Triton kernels behind :mod:`effl_plugins.augment.fused`; imported only when one is launched
(``TRITON_INTERPRET=1`` must be set before triton is first imported to run them on CPU)."""

import triton
import triton.language as tl


@triton.jit
def lut_kernel(images_ptr, luts_ptr, out_ptr, pixels, BLOCK: tl.constexpr):
    """Grid ``(B * C, cdiv(H * W, BLOCK))``: each program maps BLOCK pixels of one plane through its table."""
    plane = tl.program_id(0).to(tl.int64)
    offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < pixels
    values = tl.load(images_ptr + plane * pixels + offsets, mask=mask, other=0).to(tl.int32)
    mapped = tl.load(luts_ptr + plane * 256 + values, mask=mask, other=0)
    tl.store(out_ptr + plane * pixels + offsets, mapped, mask=mask)


@triton.jit
def _round_half_even(v):
    r = tl.floor(v + 0.5)
    odd = (r - 2.0 * tl.floor(r * 0.5)) != 0.0
    return tl.where(((r - v) == 0.5) & odd, r - 1.0, r)


@triton.jit
def _tap(plane_ptr, fill, x, y, height, width, mask):
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1) & mask
    index = tl.minimum(tl.maximum(y, 0), height - 1).to(tl.int64) * width + tl.minimum(tl.maximum(x, 0), width - 1).to(
        tl.int64
    )
    value = tl.load(plane_ptr + index, mask=inside, other=0).to(tl.float32)
    return tl.where(inside, value, fill)


@triton.jit
def warp_kernel(
    images_ptr,
    inverse_ptr,
    fill_ptr,
    out_ptr,
    channels,
    height,
    width,
    out_h,
    out_w,
    BILINEAR: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Grid ``(B, cdiv(out_h * out_w, BLOCK))``: output pixels of one sample, all channels, read through
    the sample's inverse matrix (row-major ``[B, 6]`` float32)."""
    sample = tl.program_id(0).to(tl.int64)
    offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < out_h * out_w
    xs = (offsets % out_w).to(tl.float32)
    ys = (offsets // out_w).to(tl.float32)
    m = inverse_ptr + sample * 6
    src_x = tl.load(m + 0) * xs + tl.load(m + 1) * ys + tl.load(m + 2)
    src_y = tl.load(m + 3) * xs + tl.load(m + 4) * ys + tl.load(m + 5)
    for c in range(channels):
        plane_ptr = images_ptr + (sample * channels + c) * height * width
        fill = tl.load(fill_ptr + c)
        if BILINEAR:
            x0 = tl.floor(src_x)
            y0 = tl.floor(src_y)
            wx = src_x - x0
            wy = src_y - y0
            x0i = x0.to(tl.int32)
            y0i = y0.to(tl.int32)
            top = (
                _tap(plane_ptr, fill, x0i, y0i, height, width, mask) * (1 - wx)
                + _tap(plane_ptr, fill, x0i + 1, y0i, height, width, mask) * wx
            )
            bottom = (
                _tap(plane_ptr, fill, x0i, y0i + 1, height, width, mask) * (1 - wx)
                + _tap(plane_ptr, fill, x0i + 1, y0i + 1, height, width, mask) * wx
            )
            value = tl.minimum(tl.maximum(_round_half_even(top * (1 - wy) + bottom * wy), 0.0), 255.0)
        else:
            value = _tap(
                plane_ptr,
                fill,
                tl.floor(src_x + 0.5).to(tl.int32),
                tl.floor(src_y + 0.5).to(tl.int32),
                height,
                width,
                mask,
            )
        tl.store(out_ptr + (sample * channels + c) * out_h * out_w + offsets, value.to(tl.uint8), mask=mask)
