"""``effl pseudo-label`` and ``effl self-train`` on real files: a folder with an unreadable image, resume."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from effl_plugins.cli import main
from effl_plugins.commands.self_train import strategy_kwargs


@pytest.fixture
def teacher_checkpoint(tmp_path):
    from effl_plugins.strategies.base import Strategy
    from effl_plugins.strategies.selftrain.weights import save_weights

    return save_weights(Strategy("test_resnet").build_model("test_resnet", 10), tmp_path / "teacher.safetensors")


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "unlabeled"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        cv2.imwrite(
            str(root / ("sub" if i % 2 else ".") / f"img{i}.png"), rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        )
    (root / "broken.jpg").write_bytes(b"not an image")
    return root


def test_pseudo_label_command_labels_a_folder_skipping_unreadable_files(
    tmp_path, teacher_checkpoint, image_folder, capsys
):
    store = tmp_path / "store"
    argv = [
        "pseudo-label",
        "--teacher",
        f"test_resnet:{teacher_checkpoint}",
        "--unlabeled",
        str(image_folder),
        "--out",
        str(store),
        "--balance",
        "3",
        "--shard-size",
        "2",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "broken.jpg" in captured.err and "labelled 5 images" in captured.out
    selection = json.loads((store / "selection.json").read_text())
    from effl_plugins.strategies.selftrain.store import file_hash, read_store

    labels = read_store(store, trust_ids=True)
    assert sorted(labels.ids) == sorted(["img0.png", "img2.png", "img4.png", "sub/img1.png", "sub/img3.png"])
    assert labels.teacher_hash == file_hash(teacher_checkpoint) == selection["teacher_hash"]
    assert len(selection["positions"]) == 3 * len(set(selection["labels"]))
    before = {p.name: p.read_bytes() for p in store.glob("shard-*")}
    assert main(argv + ["--resume"]) == 0
    assert {p.name: p.read_bytes() for p in store.glob("shard-*")} == before


def test_pseudo_label_command_needs_a_checkpoint(capsys):
    assert main(["pseudo-label", "--teacher", "test_resnet", "--unlabeled", "digits", "--out", "x"]) == 2
    assert "--teacher must be NAME:CHECKPOINT" in capsys.readouterr().err


def _args(**kwargs):
    base = dict(strategy="noisy_student", teacher=None, student=None, model=None, rounds=None)
    return argparse.Namespace(**{**base, **kwargs})


def test_self_train_maps_the_command_line_to_strategy_arguments():
    model, kwargs = strategy_kwargs(_args(teacher="test_resnet:t.pt", student=["test_resnet", "resnet10t"], rounds=2))
    assert kwargs["teacher"] == "test_resnet:t.pt" and kwargs["students"] == ["test_resnet", "resnet10t"]
    assert model == "test_resnet" and kwargs["rounds"] == 2
    assert strategy_kwargs(_args(strategy="pseudo_label", teacher="test_vit:t.pt"))[0] == "test_vit"
    assert strategy_kwargs(_args(strategy="fixmatch", student=["test_vit"]))[0] == "test_vit"
    assert strategy_kwargs(_args(strategy="example_entropy_min", model="test_vit")) == ("test_vit", {})
    with pytest.raises(ValueError, match="--teacher does not apply to --strategy mean_teacher"):
        strategy_kwargs(_args(strategy="mean_teacher", teacher="x:y"))
    with pytest.raises(ValueError, match="--rounds applies to --strategy noisy_student only"):
        strategy_kwargs(_args(strategy="fixmatch", rounds=2))


def test_self_train_runs_on_an_image_folder_with_unlabeled_images(tmp_path, image_folder, capsys):
    from effl_plugins.data.digits import digits_split

    digits = digits_split(num_labeled=20, num_test=20)  # real digit images, written out as an ImageFolder
    for split, indices in (("train", digits.labeled), ("val", digits.test)):
        for index, name in zip(indices.tolist(), digits.ids(indices)):
            folder = tmp_path / "data" / split / f"class{digits.targets[index]}"
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{name}.png"), digits.images[index])
    argv = [
        "self-train",
        "--data",
        str(tmp_path / "data"),
        "--unlabeled",
        str(image_folder),
        "--strategy",
        "pseudo_label",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--img-size",
        "32",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "broken.jpg" in err  # the unreadable file is reported, the run goes on
    printed = json.loads(out[out.index("{") :])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert printed["final_accuracy"] == summary["final_accuracy"]
    assert summary["strategy"] == "pseudo_label" and summary["pseudo_labels"] == 5


def test_pseudo_label_resume_auto_starts_a_new_store_and_continues_an_old_one(tmp_path, teacher_checkpoint, capsys):
    """What an elastic restart passes every time: a store not begun is labelled from scratch, a finished one
    is left byte for byte; any other value is refused in one line."""
    store = tmp_path / "store"
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((8, 8, 3), 40 * i, dtype=np.uint8))
    argv = ["pseudo-label", "--teacher", f"test_resnet:{teacher_checkpoint}", "--unlabeled", str(folder)]
    argv += ["--out", str(store), "--shard-size", "2", "--resume", "auto"]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in store.glob("shard-*")}
    assert len(before) == 2
    assert main(argv) == 0
    assert {p.name: p.read_bytes() for p in store.glob("shard-*")} == before
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main([*argv[:-1], "later"])
    assert refused.value.code == 2
    assert "argument --resume: expected no value or 'auto', got 'later'" in capsys.readouterr().err


def test_pseudo_label_precision_float16_stores_the_probabilities_rounded(tmp_path, teacher_checkpoint, image_folder):
    from safetensors.torch import load_file

    from effl_plugins.strategies.selftrain.store import read_store

    argv = ["pseudo-label", "--teacher", f"test_resnet:{teacher_checkpoint}", "--unlabeled", str(image_folder)]
    argv += ["--top-k", "3", "--shard-size", "2"]
    assert main([*argv, "--out", str(tmp_path / "f32")]) == 0
    assert main([*argv, "--out", str(tmp_path / "f16"), "--precision", "float16"]) == 0
    full, half = read_store(tmp_path / "f32", trust_ids=True), read_store(tmp_path / "f16", trust_ids=True)
    assert half.ids == full.ids and (half.probs == full.probs.half().float()).all()
    shard = load_file(next((tmp_path / "f16").glob("shard-*.safetensors")))
    assert shard["topk_probs"].dtype.itemsize == 2 and shard["topk_ids"].dtype.itemsize == 2
    assert json.loads((tmp_path / "f16" / "manifest-rank00000.json").read_text())["precision"] == "float16"
