"""benchmarks/gpu_check.sh refuses at once without CUDA; the checks of gpu_check.py run (on the CPU here) and
compare the way they claim to."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would run the full check")
def test_script_exits_at_once_with_a_clear_message_without_cuda():
    before = set((ROOT / "benchmarks" / "results").iterdir())
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "gpu_check: no" in done.stderr and "nothing was run" in done.stderr
    assert set((ROOT / "benchmarks" / "results").iterdir()) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_checker_refuses_a_missing_device(capsys, tmp_path):
    assert _gpu_check().main(["--device", "cuda", "--out", str(tmp_path / "x.json")]) == 2
    assert "no CUDA device" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_checks_compare_kernels_and_the_device_path_with_their_references():
    check = _gpu_check()
    records = check.check_kernels("cpu", batches=(1, 7), sizes=((9, 13),))
    records += check.check_device_path("cpu", batches=(7,), sizes=((9, 13),))
    records += check.check_fused("cpu", batches=(7,), sizes=((9, 13),))
    assert records and all(r["ok"] for r in records), [r for r in records if not r["ok"]]
    assert {r["check"].split(" ")[0] for r in records} == {"apply_lut", "warp_affine_fused", "device", "fused"}
    json.dumps(records)  # the JSON report holds them as they are


def test_compare_tolerances():
    check = _gpu_check()
    a = torch.zeros(100_000, dtype=torch.uint8)
    b = a.clone()
    b[0] = 1
    assert not check._compare(a, b, exact=True)["ok"]
    assert check._compare(a, b, exact=False)["ok"]  # one level on 1e-5 of the pixels
    b[:100] = 1
    assert not check._compare(a, b, exact=False)["ok"]  # one level on 1e-3 of the pixels
    assert not check._compare(a.float(), a.float() + 1e-4, exact=False)["ok"]
    assert check._compare(a.float(), a.float() + 1e-6, exact=False)["ok"]
