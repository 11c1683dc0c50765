"""The fused device path of rand_augment / trivial_augment (two Triton launches per call, any N) equals the op-by-op
reference: bit for bit on uint8, to float rounding on float32 and float64, for every op pair in both orders and
for random configurations; a call costs the same handful of tensor ops and launches at N = 1, 2 and 4.

The kernels run under ``TRITON_INTERPRET=1``, which must be set before triton is first imported, so the cases
run in a fresh interpreter (``python -m tests.augment.test_rand_augment_fused CASE``) that prints its findings
as JSON.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys

import pytest

from effl_plugins._triton import triton_available
from tests.augment.test_device_path import VIEW_OPS

pytestmark = pytest.mark.skipif(not triton_available(), reason="triton does not import here")

#: ops that only re-describe memory or allocate it (no kernel on a device)
NOT_LAUNCHES = VIEW_OPS | {"aten::empty_like", "aten::contiguous"}


def _run(case: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.augment.test_rand_augment_fused", case],
        env=dict(os.environ, TRITON_INTERPRET="1"),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_op_pair_in_both_orders_equals_op_by_op():
    found = _run("pairs")
    assert found["cases"] == len(_PAIR_CASES) * 14 * 14
    assert found["mismatches"] == [], found["mismatches"][:5]


def test_random_configurations_equal_op_by_op():
    found = _run("random")
    assert found["cases"] == 60
    assert found["mismatches"] == [], found["mismatches"][:5]
    assert found["inputs_modified"] == 0


def test_launches_and_tensor_ops_per_call_do_not_grow_with_n():
    counts = _run("count")
    for dtype in ("uint8", "float32"):
        per_n = {n: counts[f"{dtype}/{n}"] for n in (1, 2, 4)}
        assert per_n[1] == per_n[2] == per_n[4], per_n
        launches, tensor_ops = per_n[2]["launches"], per_n[2]["tensor_ops"]
        # measured: 2 launches (chain, warp) + 5 tensor ops (the rotations' cos and sin) at every N
        assert launches == 2 and tensor_ops <= 8, per_n[2]


# --- the cases, run in the interpreter -------------------------------------------------------------------------


_PAIR_CASES = (("uint8", "nearest"), ("uint8", "bilinear"), ("float32", "bilinear"), ("float64", "nearest"))


def _paths(aug, x, generator=None, params=None):
    import torch

    from effl_plugins.augment.auto.device_path import rand_augment_batch

    aug(x, generator=generator, params=params)
    ops, magnitude, sign = aug._checked(aug.last_params, len(x))
    magnitude, sign = magnitude.to(torch.float32), sign.to(torch.float32)
    fused = rand_augment_batch(
        x, ops, magnitude, sign, aug.op_names, aug._space, aug.interpolation, aug.fill, backend="triton"
    )
    return fused, aug._apply_op_by_op(x, ops, magnitude, sign), ops


def _tolerances() -> dict:
    import torch

    # a sum in another order (sharpness's 3x3 filter, contrast's mean: the kernel's order is not torch's) or, in
    # the interpreter, a float64 fma rounded twice differs in the last place; a later auto_contrast divides that
    # difference by the sample's value range (1/8 of the full range for the narrow inputs)
    return {torch.float32: 32 * torch.finfo(torch.float32).eps, torch.float64: 64 * torch.finfo(torch.float64).eps}


def _mismatch(aug, got, expected, ops, label) -> list:
    import torch

    tolerance = _tolerances()
    if got.dtype == torch.uint8:
        differs = (got != expected).flatten(1).any(1)
    else:
        differs = ((got - expected).abs() > tolerance[got.dtype]).flatten(1).any(1)
    return [
        [label, [aug.op_names[k] for k in ops[i].tolist()], float((got[i].double() - expected[i].double()).abs().max())]
        for i in differs.nonzero().flatten().tolist()
    ]


def _pairs() -> dict:
    """Every ordered pair of ops once, in one batch per dtype and interpolation (float64 takes the exact warp)."""
    import torch

    import effl_plugins as ep
    from effl_plugins.augment.auto.op_space import RAND_AUGMENT_OPS

    mismatches, cases = [], 0
    rows = [[first, second] for first in RAND_AUGMENT_OPS for second in RAND_AUGMENT_OPS]
    for dtype, interpolation in _PAIR_CASES:
        aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=17, interpolation=interpolation)
        ops = torch.tensor([[aug.op_names.index(n) for n in row] for row in rows])
        sign = torch.where(torch.arange(len(rows)) % 2 == 0, 1.0, -1.0)[:, None].expand_as(ops).contiguous()
        magnitude = torch.rand(ops.shape, generator=torch.Generator().manual_seed(cases))
        x = torch.randint(
            40, 200, (len(rows), 3, 15, 19), dtype=torch.uint8, generator=torch.Generator().manual_seed(7)
        )
        x = x if dtype == "uint8" else x.to(getattr(torch, dtype)) / 255
        got, expected, ops = _paths(aug, x, params={"ops": ops, "magnitude": magnitude, "sign": sign})
        mismatches += _mismatch(aug, got, expected, ops, f"{dtype} {interpolation}")
        cases += len(rows)
    return {"cases": cases, "mismatches": mismatches}


def _random_case(rng: random.Random):
    """One configuration drawn as the torch device path's property test draws them."""
    import torch

    import effl_plugins as ep

    interpolation = rng.choice(["nearest", "bilinear"])
    channels, dtype = rng.choice([1, 3]), rng.choice(["uint8", "float32", "float64"])
    fill = rng.choice([0, 128.0, (10, 200, 30)])
    if channels == 1 and isinstance(fill, tuple):
        fill = 7
    if dtype != "uint8":
        fill = tuple(v / 255 for v in fill) if isinstance(fill, tuple) else fill / 255
    if rng.random() < 0.3:
        aug = ep.create_augmentation("trivial_augment", wide=rng.random() < 0.5, interpolation=interpolation, fill=fill)
    else:
        aug = ep.create_augmentation(
            "rand_augment",
            num_ops=rng.randint(1, 4),
            magnitude=rng.randint(0, 30),
            magnitude_std=rng.choice([0.0, 3.0, math.inf]),
            interpolation=interpolation,
            fill=fill,
        )
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    size = (10, channels, rng.randint(1, 20), rng.randint(1, 20))
    x = torch.randint(0, 256, size, dtype=torch.uint8, generator=generator)
    if rng.random() < 0.5:  # narrow ranges make auto_contrast and equalize do real work
        x = x // 8 + 90
    if dtype != "uint8":
        x = x.to(getattr(torch, dtype)) / 255
    return aug, x, generator


def _random(seed: int = 20261201) -> dict:
    import torch

    rng = random.Random(seed)
    mismatches, modified, cases = [], 0, 60
    for case in range(cases):
        aug, x, generator = _random_case(rng)
        original = x.clone()
        got, expected, ops = _paths(aug, x, generator)
        modified += not torch.equal(x, original)
        mismatches += _mismatch(aug, got, expected, ops, f"case {case} {tuple(x.shape)} {x.dtype}")
    return {"cases": cases, "mismatches": mismatches, "inputs_modified": modified}


def _count() -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    import effl_plugins as ep
    from effl_plugins.augment.auto.device_path import rand_augment_batch

    counts = {}
    for dtype in (torch.uint8, torch.float32):
        for num_ops in (1, 2, 4):
            aug = ep.create_augmentation("rand_augment", num_ops=num_ops, magnitude=9)
            x = torch.rand(16, 3, 24, 24, generator=torch.Generator().manual_seed(0))
            x = (x * 255).to(dtype) if dtype == torch.uint8 else x
            aug(x, generator=torch.Generator().manual_seed(1))
            ops, magnitude, sign = aug._checked(aug.last_params, len(x))

            def call(x=x, ops=ops, magnitude=magnitude, sign=sign, aug=aug):
                return rand_augment_batch(x, ops, magnitude, sign, aug.op_names, aug._space, backend="triton")

            call()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                call()
            top = [e.name for e in prof.events() if e.cpu_parent is None]
            counts[f"{str(dtype).split('.')[-1]}/{num_ops}"] = {
                "launches": sum(name.startswith("triton::") for name in top),
                "tensor_ops": sum(name.startswith("aten::") and name not in NOT_LAUNCHES for name in top),
            }
    return counts


if __name__ == "__main__":
    print(json.dumps({"pairs": _pairs, "random": _random, "count": _count}[sys.argv[1]](*map(int, sys.argv[2:]))))
