"""``effl eval`` and ``effl predict`` on a real run directory: eval's top-1 is the run's recorded best
accuracy for ``model_best.pt``; predict names the checkpoint's classes with their probabilities."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from effl_plugins.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "ft"
    argv = [
        "finetune",
        "--data",
        "digits",
        "--model",
        "test_resnet",
        "--epochs",
        "3",
        "--warmup-epochs",
        "0",
        "--lr",
        "3e-3",
        "--batch-size",
        "32",
        "--img-size",
        "32",
        "--scale",
        "1",
        "1",
        "--hflip",
        "0",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    return out


def test_eval_top1_equals_the_recorded_best_accuracy(run_dir, tmp_path, capsys):
    capsys.readouterr()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (
        main(
            [
                "eval",
                "--model",
                f"test_resnet:{run_dir / 'model_best.pt'}",
                "--data",
                "digits",
                "--out",
                str(tmp_path / "eval"),
                "--workers",
                "0",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "eval" / "confusion.json").read_text())
    assert report["top1"] == summary["best_accuracy"]
    assert report["images"] == 360 and sum(map(sum, report["confusion"])) == 360
    assert report["top1"] <= report["top5"] <= 1.0
    matrix = np.array(report["confusion"])
    for i, name in enumerate(report["class_names"]):
        assert report["per_class"][name] == pytest.approx(matrix[i, i] / matrix[i].sum())
    assert (tmp_path / "eval" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = json.loads(capsys.readouterr().out)
    assert printed["top1"] == report["top1"]


def test_checkpoints_record_what_the_run_was(run_dir):
    for name in ("checkpoint.pt", "model_best.pt"):
        state = torch.load(run_dir / name, weights_only=True)
        assert state["arch"] == "test_resnet" and state["num_classes"] == 10
        assert state["class_names"] == [str(c) for c in range(10)]
        assert state["data_config"]["input_size"] == [3, 32, 32] or tuple(state["data_config"]["input_size"]) == (
            3,
            32,
            32,
        )
        assert state["args"]["command"] == "finetune" and state["args"]["data"] == "digits"
    best = torch.load(run_dir / "model_best.pt", weights_only=True)
    history = best["history"]
    assert history[-1]["eval_top1"] == max(h["eval_top1"] for h in history)  # saved at its best epoch


def test_predict_prints_class_names_and_probabilities(run_dir, tmp_path, capsys):
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"d{i}.png"), np.kron(digits.images[i] * 16, np.ones((4, 4))).astype(np.uint8))
    capsys.readouterr()
    model = f"test_resnet:{run_dir / 'model_best.pt'}"
    assert (
        main(["predict", "--model", model, str(tmp_path), "--top-k", "3", "--format", "json", "--device", "cpu"]) == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["image"].rsplit("/", 1)[-1] for line in lines] == ["d0.png", "d1.png", "d2.png"]
    for line in lines:
        probabilities = [t["probability"] for t in line["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert all(t["class"] in [str(c) for c in range(10)] for t in line["top"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "--model", "test_resnet", "x.png"], "--model must be NAME:CHECKPOINT"),
        (["predict", "--model", "test_resnet:/nonexistent.pt", "x.png"], "checkpoint file not found"),
        (["eval", "--model", "test_resnet:/nonexistent.pt", "--data", "digits"], "checkpoint file not found"),
    ],
)
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["0", "1", "5", "-0.2", "nan"])
def test_eval_refuses_a_val_fraction_outside_0_1_as_training_does(value, capsys):
    argv = ["eval", "--model", "test_resnet:/nonexistent.pt", "--data", "digits", "--val-fraction", value]
    with pytest.raises(SystemExit) as info:  # argparse's refusal: usage and one error line, exit 2
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "argument --val-fraction" in err and repr(value) in err
