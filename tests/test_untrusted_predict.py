"""``effl predict`` on files from others: every readable image predicted, every unreadable one named,
exit 2 at the end; checkpoints and arguments that are not regular files named for what they are."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import timm
import torch

from effl_plugins.cli import main
from tests.data.helpers import png_header_only, random_image, write_image


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch.manual_seed(0)
    torch.save(timm.create_model("test_resnet", num_classes=3).state_dict(), path)
    return f"test_resnet:{path}"


def effl(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "effl_plugins.cli", *argv], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_a_folder_with_bad_images_predicts_the_good_ones_and_names_each_bad_one(tmp_path, checkpoint):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    write_image(folder / "a_good.png", random_image(rng, 40, 40))
    (folder / "b_bad.png").write_bytes(b"not an image at all")
    png_header_only(folder / "c_huge.png", 20000, 20000)  # 3.5 GB once decoded; a few bytes on disk
    write_image(folder / "d_good.jpg", random_image(rng, 40, 40))
    proc = effl("predict", "--model", checkpoint, str(folder), "--format", "json", "--device", "cpu", "--top-k", "2")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    predicted = [json.loads(line)["image"] for line in proc.stdout.splitlines()]
    assert predicted == [str(folder / "a_good.png"), str(folder / "d_good.jpg")]
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 3, proc.stderr
    assert "b_bad.png" in errors[0] and "cannot decode image file" in errors[0]
    assert "c_huge.png" in errors[1] and "declares 20000x20000 = 400000000 pixels, over" in errors[1]
    assert errors[2] == (
        "effl predict: error: 2 of 4 images could not be read (each named above); the others were predicted"
    )


def test_an_empty_checkpoint_is_one_line_naming_the_file(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    write_image(tmp_path / "x.png", random_image(np.random.default_rng(0), 16, 16))
    proc = effl("predict", "--model", f"test_resnet:{empty}", str(tmp_path / "x.png"), "--device", "cpu")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == f"effl predict: error: checkpoint {str(empty)!r} is empty (0 bytes)\n"


def test_a_checkpoint_whose_load_error_has_no_message_still_names_the_file(tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x80")  # a pickle cut short
    assert main(["predict", "--model", f"test_resnet:{garbage}", str(garbage), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"effl predict: error: cannot read checkpoint {str(garbage)!r} as weights only: ")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_devices_are_named_as_devices_not_missing_files(tmp_path, checkpoint, capsys):
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    for image in ("/dev/zero", str(link)):
        assert main(["predict", "--model", checkpoint, image, "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert err == (
            f"effl predict: error: IMAGE {image!r} is a character device, not a regular file "
            "(expected an image file or a folder of images)\n"
        )
    assert main(["predict", "--model", f"test_resnet:{link}", "--device", "cpu", str(tmp_path)]) == 2
    assert f"checkpoint {str(link)!r} is a device, pipe or socket, not a regular file" in capsys.readouterr().err
    assert main(["predict", "--model", checkpoint, str(tmp_path / "missing.png"), "--device", "cpu"]) == 2
    assert "no such image file or folder" in capsys.readouterr().err


def test_a_checkpoint_record_claiming_a_huge_class_count_is_refused(tmp_path, capsys):
    path = tmp_path / "claims.pt"
    model = timm.create_model("test_resnet", num_classes=3)
    torch.save({"model": model.state_dict(), "num_classes": 10**12, "class_names": ["a", "b", "c"]}, path)
    image = tmp_path / "x.png"
    write_image(image, random_image(np.random.default_rng(0), 16, 16))
    assert main(["predict", "--model", f"test_resnet:{path}", str(image), "--device", "cpu"]) == 2
    assert "records num_classes=1000000000000; expected an int in 1..1000000" in capsys.readouterr().err
