"""The CUDA correctness checks behind ``benchmarks/gpu_check.sh``: the fused Triton kernels and the device
path of rand_augment / trivial_augment against their references, on the GPU.

    python benchmarks/gpu_check.py [--device cuda] [--out FILE.json]

Checks (each a line ``ok``/``FAIL`` and a record in the JSON):

- ``apply_lut`` Triton == torch gather, uint8, B in {1, 7, 256}, odd sizes: bit for bit;
- ``warp_affine_fused`` Triton == :func:`warp_affine` (nearest: bit for bit; bilinear: at most one level
  on at most 1e-4 of the pixels, the float32 blend may be fused differently by the compiler);
- the device path on the GPU == the op-by-op reference on the GPU and on the CPU (uint8 nearest: bit
  for bit against the GPU reference; otherwise within one level / 1e-5);
- the device path's fused kernels (two launches per call) == its torch form, uint8, float32 and float64, N in
  {1, 2, 4}, and a call on CUDA makes exactly two Triton launches (``triton::`` profiler ranges) at every N;
- the device path issues no host-device synchronisation (``torch.cuda.set_sync_debug_mode("error")``).

Exit status 0 when every check passes, 1 otherwise, 2 without the device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BATCHES = (1, 7, 256)
SIZES = ((37, 53), (224, 224), (17, 129))
CPU_REFERENCE_PIXELS = 256 * 64 * 64


def _compare(got, expected, exact: bool) -> dict:
    import torch

    got, expected = got.cpu(), expected.cpu()
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return {
            "ok": False,
            "detail": f"shape/dtype {tuple(got.shape)} {got.dtype} vs {tuple(expected.shape)} {expected.dtype}",
        }
    diff = (got.double() - expected.double()).abs()
    differing = float((diff > 0).double().mean()) if diff.numel() else 0.0
    worst = float(diff.max()) if diff.numel() else 0.0
    if exact:
        ok = worst == 0
    elif got.dtype == torch.uint8:
        ok = worst <= 1 and differing <= 1e-4
    else:
        ok = worst <= 1e-5
    return {"ok": ok, "max_abs_diff": worst, "fraction_differing": differing}


def _images(batch: int, size: tuple[int, int], dtype: str, device, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (batch, 3, *size), dtype=torch.uint8, generator=g)
    x[::3] = x[::3] // 8 + 90  # narrow ranges: auto_contrast and equalize do real work
    x = x.to(device)
    return x if dtype == "uint8" else x.float() / 255


def check_kernels(device: str, batches=BATCHES, sizes=SIZES) -> list[dict]:
    import torch

    from effl_plugins.augment.functional import matrices
    from effl_plugins.augment.functional.warp import warp_affine
    from effl_plugins.augment.fused import apply_lut, warp_affine_fused

    backend = "triton" if device.startswith("cuda") else "torch"
    records = []
    for batch in batches:
        for size in sizes:
            x = _images(batch, size, "uint8", device, seed=batch)
            luts = torch.randint(
                0, 256, (batch, 3, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
            ).to(device)
            records.append(
                {
                    "check": "apply_lut",
                    "batch": batch,
                    "size": size,
                    **_compare(apply_lut(x, luts, backend=backend), apply_lut(x, luts, backend="torch"), exact=True),
                }
            )
            angle = torch.rand(batch, generator=torch.Generator().manual_seed(2)) * 60 - 30
            m = matrices.about(matrices.rotation(angle), (size[1] - 1) / 2, (size[0] - 1) / 2)
            m = (matrices.translation(torch.full((batch,), 2.5), torch.full((batch,), -1.0)) @ m).to(device)
            for interpolation in ("nearest", "bilinear"):
                got = warp_affine_fused(x, m, interpolation, fill=(7, 8, 9), backend=backend)
                expected = warp_affine(x, m, interpolation, fill=(7, 8, 9))
                records.append(
                    {
                        "check": f"warp_affine_fused {interpolation}",
                        "batch": batch,
                        "size": size,
                        **_compare(got, expected, exact=interpolation == "nearest"),
                    }
                )
    return records


def check_device_path(device: str, batches=BATCHES, sizes=SIZES) -> list[dict]:
    import torch

    import effl_plugins as ep

    records = []
    configs = [
        ("rand_augment", {"num_ops": 2, "magnitude": 9}),
        ("rand_augment", {"num_ops": 4, "magnitude": 15, "magnitude_std": 3.0}),
        ("rand_augment", {"num_ops": 2, "magnitude": 20, "interpolation": "bilinear", "fill": (10, 200, 30)}),
        ("trivial_augment", {}),
    ]
    for name, kwargs in configs:
        for dtype in ("uint8", "float32"):
            if dtype == "float32" and "fill" in kwargs:
                kwargs = {**kwargs, "fill": tuple(v / 255 for v in kwargs["fill"])}
            aug = ep.create_augmentation(name, **kwargs)
            for batch in batches:
                for size in sizes:
                    x = _images(batch, size, dtype, device, seed=batch + size[0])
                    y, _ = aug(x, generator=torch.Generator(device=device).manual_seed(batch))
                    ops, magnitude, sign = aug._checked(aug.last_params, batch)
                    on_device = aug._apply_op_by_op(x, ops, magnitude, sign)
                    exact = dtype == "uint8" and kwargs.get("interpolation", "nearest") == "nearest"
                    base = {"check": f"device path {name} {kwargs} {dtype}", "batch": batch, "size": size}
                    records.append(
                        {**base, "reference": "op-by-op on the device", **_compare(y, on_device, exact=exact)}
                    )
                    if (
                        batch * size[0] * size[1] <= CPU_REFERENCE_PIXELS
                    ):  # the CPU reference of the largest case takes too long
                        on_cpu = aug._apply_op_by_op(x.cpu(), ops.cpu(), magnitude.cpu(), sign.cpu())
                        records.append({**base, "reference": "op-by-op on the CPU", **_compare(y, on_cpu, exact=False)})
    return records


def check_fused(device: str, batches=BATCHES, sizes=SIZES) -> list[dict]:
    """The fused form of the device path against its torch form on the same device, and its launch count."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    import effl_plugins as ep
    from effl_plugins.augment.auto.device_path import rand_augment_batch

    backend = "triton" if device.startswith("cuda") else "torch"
    records = []
    for num_ops in (1, 2, 4):
        for interpolation in ("nearest", "bilinear"):
            aug = ep.create_augmentation("rand_augment", num_ops=num_ops, magnitude=13, interpolation=interpolation)
            for dtype in ("uint8", "float32", "float64"):
                for batch in batches:
                    for size in sizes:
                        x = _images(batch, size, "uint8", device, seed=batch * num_ops + size[1])
                        x = x if dtype == "uint8" else x.to(getattr(torch, dtype)) / 255
                        aug(x, generator=torch.Generator(device=device).manual_seed(batch))
                        ops, magnitude, sign = aug._checked(aug.last_params, batch)
                        args = (x, ops, magnitude.float(), sign.float(), aug.op_names, aug._space, interpolation)
                        fused = rand_augment_batch(*args, backend=backend)
                        reference = rand_augment_batch(*args, backend="torch")
                        exact = dtype == "uint8" and interpolation == "nearest"
                        records.append(
                            {
                                "check": f"fused device path N={num_ops} {interpolation} {dtype}",
                                "batch": batch,
                                "size": size,
                                **_compare(fused, reference, exact=exact),
                            }
                        )
            if device.startswith("cuda"):
                x = _images(8, (37, 53), "uint8", device, seed=0)
                aug(x, generator=torch.Generator(device=device).manual_seed(0))
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    aug(x, generator=torch.Generator(device=device).manual_seed(0))
                launches = sum(e.name.startswith("triton::") for e in prof.events() if e.cpu_parent is None)
                records.append(
                    {"check": f"fused launches N={num_ops} {interpolation}", "ok": launches == 2, "launches": launches}
                )
    return records


def check_no_sync(device: str) -> list[dict]:
    import torch

    import effl_plugins as ep

    if not device.startswith("cuda"):
        return []
    records = []
    for dtype in ("uint8", "float32"):
        aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=9)
        x = _images(64, (224, 224), dtype, device, seed=0)
        generator = torch.Generator(device=device).manual_seed(0)
        aug(x, generator=generator)  # first call: per-device constants are made once
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            aug(x, generator=generator)
            records.append({"check": f"no host sync {dtype}", "ok": True})
        except RuntimeError as exc:
            records.append({"check": f"no host sync {dtype}", "ok": False, "detail": str(exc)[:300]})
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return records


def time_device_path(device: str) -> list[dict]:
    """RandAugment N=2 M=9 on 256 x 3 x 224 x 224 uint8: CUDA-event time per call, against a copy of the batch
    (one read, one write: the one-pass floor)."""
    import torch

    import effl_plugins as ep

    if not device.startswith("cuda"):
        return []
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=9)
    x = _images(256, (224, 224), "uint8", device, seed=0)
    generator = torch.Generator(device=device).manual_seed(0)
    for _ in range(3):
        aug(x, generator=generator)
    copy = torch.empty_like(x)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = {}
    for label, fn in (("rand_augment", lambda: aug(x, generator=generator)), ("copy (floor)", lambda: copy.copy_(x))):
        start.record()
        for _ in range(20):
            fn()
        end.record()
        torch.cuda.synchronize()
        times[label] = start.elapsed_time(end) / 20 * 1e3
    return [
        {
            "check": "timing 256x3x224x224 uint8 N=2 M=9",
            "ok": True,
            "rand_augment_us": times["rand_augment"],
            "floor_us": times["copy (floor)"],
            "x_floor": times["rand_augment"] / times["copy (floor)"],
        }
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, help="write the records as JSON here")
    parser.add_argument(
        "--small", action="store_true", help="batches (1, 7) and odd sizes only (a quick run of the logic)"
    )
    args = parser.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible to torch; nothing was checked", file=sys.stderr)
        return 2
    clock = time.perf_counter()
    batches, sizes = ((1, 7), ((37, 53), (17, 29))) if args.small else (BATCHES, SIZES)
    records = (
        check_kernels(args.device, batches, sizes)
        + check_device_path(args.device, batches, sizes)
        + check_fused(args.device, batches, sizes)
        + check_no_sync(args.device)
        + time_device_path(args.device)
    )
    for record in records:
        print(("ok  " if record["ok"] else "FAIL"), json.dumps({k: v for k, v in record.items() if k != "ok"}))
    failed = sum(not r["ok"] for r in records)
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(f"{len(records) - failed}/{len(records)} checks passed on {name} in {time.perf_counter() - clock:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"device": name, "torch": torch.__version__, "records": records}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
