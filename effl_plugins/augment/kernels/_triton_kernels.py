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
def round_half_even(v):
    r = tl.floor(v + 0.5)
    odd = (r - 2.0 * tl.floor(r * 0.5)) != 0.0
    return tl.where(((r - v) == 0.5) & odd, r - 1.0, r)


@triton.jit
def _tap(plane_ptr, fill, x, y, height, width, mask):
    """The pixel at integer-valued float coordinates ``(x, y)``, ``fill`` outside (non-finite: outside)."""
    inside = (x >= 0.0) & (x <= (width - 1).to(tl.float32)) & (y >= 0.0) & (y <= (height - 1).to(tl.float32)) & mask
    index = tl.where(inside, y, 0.0).to(tl.int64) * width + tl.where(inside, x, 0.0).to(tl.int64)
    value = tl.load(plane_ptr + index, mask=inside, other=0)
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
    FLAGGED: tl.constexpr,
    BILINEAR: tl.constexpr,
    IS_UINT8: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Grid ``(B, cdiv(out_h * out_w, BLOCK))``: output pixels of one sample, every channel, read through the
    sample's inverse matrix (row-major 2x3 float32, ``inverse[b, :6]``). ``FLAGGED``: rows of 7, and a sample
    whose ``inverse[b, 6]`` is 0 is copied as it is (same size only). Launched with ``enable_fp_fusion=False``, so
    the coordinates and the float32 blend round as the torch reference rounds them; uint8 output is the blend
    rounded half to even and clamped, float output the blend (nearest: the source value itself)."""
    sample = tl.program_id(0).to(tl.int64)
    offsets = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < out_h * out_w
    stride = 7 if FLAGGED else 6
    m = inverse_ptr + sample * stride
    xs = (offsets % out_w).to(tl.float32)
    ys = (offsets // out_w).to(tl.float32)
    src_x = tl.load(m + 0) * xs + tl.load(m + 1) * ys + tl.load(m + 2)
    src_y = tl.load(m + 3) * xs + tl.load(m + 4) * ys + tl.load(m + 5)
    warped = True
    if FLAGGED:
        warped = tl.load(m + 6) != 0.0
    for c in range(channels):
        plane_ptr = images_ptr + (sample * channels + c) * height * width
        out_plane = out_ptr + (sample * channels + c) * out_h * out_w
        if warped:
            fill = tl.load(fill_ptr + c)
            if BILINEAR:
                x0 = tl.floor(src_x)
                y0 = tl.floor(src_y)
                wx = src_x - x0
                wy = src_y - y0
                t00 = _tap(plane_ptr, fill, x0, y0, height, width, mask).to(tl.float32)
                t01 = _tap(plane_ptr, fill, x0 + 1.0, y0, height, width, mask).to(tl.float32)
                t10 = _tap(plane_ptr, fill, x0, y0 + 1.0, height, width, mask).to(tl.float32)
                t11 = _tap(plane_ptr, fill, x0 + 1.0, y0 + 1.0, height, width, mask).to(tl.float32)
                top = t00 * (1.0 - wx) + t01 * wx
                bottom = t10 * (1.0 - wx) + t11 * wx
                value = top * (1.0 - wy) + bottom * wy
                if IS_UINT8:
                    value = tl.minimum(tl.maximum(round_half_even(value), 0.0), 255.0)
                tl.store(out_plane + offsets, value.to(out_ptr.dtype.element_ty), mask=mask)
            else:
                value = _tap(plane_ptr, fill, tl.floor(src_x + 0.5), tl.floor(src_y + 0.5), height, width, mask)
                tl.store(out_plane + offsets, value, mask=mask)
        else:
            tl.store(out_plane + offsets, tl.load(plane_ptr + offsets, mask=mask), mask=mask)
