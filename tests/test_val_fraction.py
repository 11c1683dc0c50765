"""``--val-fraction``: a folder of class subfolders (no train/ and val/) with a stratified, seeded share held
out for validation, recorded in the run directory so that ``--resume`` and ``effl eval`` see the same split;
timm's ``--train-split``/``--val-split`` name the splits; ``--class-map`` is refused in one line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from effl_plugins.cli import main
from effl_plugins.data import DataConfig, build_data, holdout_split
from effl_plugins.data.digits import digits_split
from effl_plugins.data.sources import list_image_folder

CLASSES = ("0", "1", "2")
PER_CLASS = 10
CONFIG = DataConfig((3, 32, 32), "bilinear", (0.5,) * 3, (0.25,) * 3, 1.0)
QUICK = [
    "--model",
    "test_resnet",
    "--img-size",
    "32",
    "--epochs",
    "1",
    "--warmup-epochs",
    "0",
    "--batch-size",
    "8",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--seed",
    "3",
]


def class_folder(root: Path, per_class: int = PER_CLASS) -> Path:
    """``root/<digit>/<i>.png``: ``per_class`` digits of each of ``CLASSES`` as 32x32 PNGs."""
    split = digits_split()
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        picks = np.flatnonzero(split.targets == int(name))[:per_class]
        for i, index in enumerate(picks):
            cv2.imwrite(str(root / name / f"{i}.png"), cv2.cvtColor(split.images[index], cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return class_folder(tmp_path_factory.mktemp("data") / "photos")


@pytest.fixture(scope="module")
def run_dir(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ft"
    assert main(["finetune", "--data", str(photos), "--val-fraction", "0.2", *QUICK, "--out", str(out)]) == 0
    return out


def test_the_split_is_stratified_and_seeded(photos):
    listing = list_image_folder(photos)
    split = holdout_split(listing, 0.2, seed=3)
    per_class = Counter(rel.split("/")[0] for rel in split.val)
    assert per_class == {name: 2 for name in CLASSES}  # round(0.2 * 10) of each class
    assert not set(split.val) & set(split.train) and len(split.train) + len(split.val) == len(listing.relpaths)
    again = holdout_split(listing, 0.2, seed=3)
    assert again.val == split.val and again.sha256 == split.sha256
    other = holdout_split(listing, 0.2, seed=4)
    assert other.val != split.val and other.sha256 != split.sha256
    assert holdout_split(listing, 0.01, seed=3).val and len(holdout_split(listing, 0.99, seed=3).train) == 3


def test_build_data_holds_the_split_out(photos):
    bundle = build_data(str(photos), CONFIG, val_fraction=0.2, seed=3)
    assert bundle.class_names == list(CLASSES) and bundle.num_classes == 3
    assert sorted(bundle.test.ids) == sorted(bundle.split.val) and len(bundle.labeled) == 24
    assert Counter(int(t) for t in bundle.test.targets) == {0: 2, 1: 2, 2: 2}
    assert bundle.test[0][0].shape == (3, 32, 32)


def test_a_bare_class_folder_without_the_flag_is_refused_naming_it(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["finetune", "--data", str(photos), *QUICK, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--val-fraction" in err and "class subfolders" in err
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "1", "1.5", "nan", "x"])
def test_the_fraction_must_be_inside_0_1(photos, value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["finetune", "--data", str(photos), "--val-fraction", value, *QUICK])
    assert info.value.code == 2 and "--val-fraction" in capsys.readouterr().err


def test_a_root_with_its_own_val_split_refuses_the_fraction(tmp_path):
    class_folder(tmp_path / "root" / "train", per_class=3)
    class_folder(tmp_path / "root" / "val", per_class=2)
    with pytest.raises(ValueError, match="has its own val split"):
        build_data(str(tmp_path / "root"), CONFIG, val_fraction=0.2)


def test_a_tar_train_split_without_val_refuses_the_fraction(tmp_path):
    import tarfile

    class_folder(tmp_path / "folder", per_class=2)
    (tmp_path / "root").mkdir()
    with tarfile.open(tmp_path / "root" / "train.tar", "w") as tar:
        for path in sorted((tmp_path / "folder").rglob("*.png")):
            tar.add(path, arcname=path.relative_to(tmp_path / "folder").as_posix())
    with pytest.raises(ValueError, match="not of a tar file.*add val/ or val.tar"):
        build_data(str(tmp_path / "root"), CONFIG, val_fraction=0.2)


def test_a_train_folder_without_val_holds_out_of_train(tmp_path):
    class_folder(tmp_path / "root" / "train", per_class=5)
    bundle = build_data(str(tmp_path / "root"), CONFIG, val_fraction=0.2)
    assert len(bundle.test) == 3 and len(bundle.labeled) == 12 and bundle.name == str(tmp_path / "root")


def test_train_split_and_val_split_name_the_folders(tmp_path):
    class_folder(tmp_path / "root" / "fit", per_class=3)
    class_folder(tmp_path / "root" / "holdout", per_class=2)
    bundle = build_data(str(tmp_path / "root"), CONFIG, train_split="fit", val_split="holdout")
    assert len(bundle.labeled) == 9 and len(bundle.test) == 6
    with pytest.raises(FileNotFoundError, match="no validation split"):
        build_data(str(tmp_path / "root"), CONFIG, train_split="fit", val_split="validation")
    with pytest.raises(ValueError, match="--train-split must name a folder"):
        build_data(str(tmp_path / "root"), CONFIG, train_split="../fit")


def test_class_map_is_refused_naming_what_we_do(photos, capsys):
    with pytest.raises(SystemExit) as info:
        main(["finetune", "--data", str(photos), "--class-map", "map.txt", *QUICK])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--class-map" in err and "class folders in natural order" in err


def test_the_run_records_its_split(run_dir, photos):
    record = json.loads((run_dir / "split.json").read_text())
    split = holdout_split(list_image_folder(photos), 0.2, seed=3)
    assert record["val"] == split.val and record["sha256"] == split.sha256
    assert record["val_fraction"] == 0.2 and record["seed"] == 3 and record["classes"] == list(CLASSES)
    assert (record["train_images"], record["val_images"]) == (24, 6)
    assert "split.json" in json.loads((run_dir / "written.json").read_text())["files"]
    args = yaml.safe_load((run_dir / "args.yaml").read_text())
    assert args["val_fraction"] == 0.2 and args["split"]["sha256"] == split.sha256
    assert json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1


def test_eval_scores_the_held_out_split(run_dir, photos, tmp_path, capsys):
    argv = ["eval", "--model", f"test_resnet:{run_dir / 'checkpoint.pt'}", "--data", str(photos)]
    assert main([*argv, "--out", str(tmp_path / "eval"), "--workers", "0", "--device", "cpu"]) == 0
    report = json.loads((tmp_path / "eval" / "confusion.json").read_text())
    recorded = json.loads((run_dir / "split.json").read_text())
    assert report["images"] == 6 and report["held_out"]["sha256"] == recorded["sha256"]
    assert report["top1"] == json.loads((run_dir / "summary.json").read_text())["final_accuracy"]
    assert main([*argv, "--split", "train", "--out", str(tmp_path / "train"), "--workers", "0", "--device", "cpu"]) == 0
    assert json.loads((tmp_path / "train" / "confusion.json").read_text())["images"] == 24


def test_resume_uses_the_recorded_split_and_refuses_another(photos, tmp_path, capsys):
    data = class_folder(tmp_path / "photos")
    out = tmp_path / "ft"
    argv = ["finetune", "--data", str(data), "--val-fraction", "0.2", *QUICK, "--out", str(out)]
    assert main(argv) == 0
    recorded = (out / "split.json").read_text()
    assert main([*argv, "--resume", "--epochs", "2"]) == 0
    assert (out / "split.json").read_text() == recorded
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    capsys.readouterr()
    assert main([*argv[:4], "0.3", *argv[5:], "--resume", "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "split.json" in err and "start a new run" in err
    (data / "0" / "0.png").unlink()  # the folder changed since the run began
    assert main([*argv, "--resume", "--epochs", "3"]) == 2
    assert "split.json" in capsys.readouterr().err
    assert (out / "split.json").read_text() == recorded
    scored = ["eval", "--model", f"test_resnet:{out / 'checkpoint.pt'}", "--data", str(data)]
    assert main([*scored, "--out", str(tmp_path / "e"), "--workers", "0", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not the one the model's run held out" in err
