"""``effl pseudo-label`` on a folder with a truncated JPEG: skipped and named, the rest labelled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import timm
import torch

from tests.data.helpers import random_image, write_image


def test_a_truncated_jpeg_is_skipped_and_named_not_fatal(tmp_path):
    checkpoint = tmp_path / "teacher.pt"
    torch.manual_seed(0)
    torch.save(timm.create_model("test_resnet", num_classes=3).state_dict(), checkpoint)
    rng = np.random.default_rng(0)
    folder = tmp_path / "unlabeled"
    for i in range(4):
        write_image(folder / f"img{i}.jpg", random_image(rng, 40, 40))
    data = (folder / "img2.jpg").read_bytes()
    (folder / "img2.jpg").write_bytes(data[: len(data) // 2])  # its header still reads
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    argv = ["pseudo-label", "--teacher", f"test_resnet:{checkpoint}", "--unlabeled", str(folder)]
    argv += ["--out", str(tmp_path / "store"), "--img-size", "32", "--workers", "0", "--device", "cpu"]
    proc = subprocess.run(
        [sys.executable, "-m", "effl_plugins.cli", *argv], capture_output=True, text=True, timeout=180, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"effl pseudo-label: skipped {folder / 'img2.jpg'}: not an image OpenCV can decode" in proc.stderr
    assert "labelled 3 images" in proc.stdout
    selection = json.loads((tmp_path / "store" / "selection.json").read_text())
    assert sorted(selection["ids"]) == ["img0.jpg", "img1.jpg", "img3.jpg"]
