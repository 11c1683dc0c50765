"""Bad data on disk: oversized headers, links, unreadable folders, undecodable files, class mismatches."""

from __future__ import annotations

import os

import numpy as np
import pytest
import timm.data  # noqa: F401 (imported at collection: the transforms need it)

from effl_plugins.data import DataConfig, DataWarning, ImageDecodeError, build_data, create_loader, declared_size
from effl_plugins.data.sources import walk_images

from .helpers import image_folder, png_header_only, random_image, tar_splits, write_image

CFG = DataConfig((3, 16, 16), "bilinear", (0.5,) * 3, (0.5,) * 3, 1.0)


def test_declared_size_reads_the_header_only(tmp_path):
    png_header_only(tmp_path / "huge.png", 60000, 60000)
    assert declared_size(tmp_path / "huge.png") == (60000, 60000)
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    with pytest.raises(ImageDecodeError, match="junk.jpg.*unreadable header"):
        declared_size(tmp_path / "junk.jpg")


def test_images_over_the_pixel_limit_are_skipped_before_decoding(tmp_path):
    image_folder(tmp_path)
    png_header_only(tmp_path / "train" / "cat" / "huge.png", 60000, 60000)
    png_header_only(tmp_path / "train" / "dog" / "big.png", 20000, 20000)
    bundle = build_data(str(tmp_path), CFG)
    assert len(bundle.labeled) == 5 and "cat/huge.png" not in bundle.labeled.ids
    reasons = dict(bundle.labeled.skipped)
    assert reasons[str(tmp_path / "train" / "cat" / "huge.png")] == (
        "declares 60000x60000 = 3600000000 pixels, over max_image_pixels=89478485"
    )
    assert "20000x20000" in reasons[str(tmp_path / "train" / "dog" / "big.png")]
    with pytest.raises(ValueError, match="holds no usable images.*skipped 7"):  # the 30 x 40 images too
        build_data(str(tmp_path), CFG, max_image_pixels=30 * 40 - 1)
    roomy = build_data(str(tmp_path), CFG, max_image_pixels=400_000_000)
    assert "dog/big.png" in roomy.labeled.ids and "cat/huge.png" not in roomy.labeled.ids


def test_an_undecodable_image_raises_naming_the_file_in_workers(tmp_path):
    image_folder(tmp_path)
    png_header_only(tmp_path / "train" / "cat" / "9.png", 20, 20)  # header fine, pixels not
    bundle = build_data(str(tmp_path), CFG)
    index = bundle.labeled.ids.index("cat/9.png")
    with pytest.raises(ImageDecodeError, match=r"cannot decode image file '.*train/cat/9.png'"):
        bundle.labeled[index]
    with pytest.raises(ImageDecodeError, match=r"train/cat/9.png"):
        list(create_loader(bundle.labeled, 2, workers=2))


def test_undecodable_header_is_skipped_at_listing(tmp_path):
    image_folder(tmp_path)
    (tmp_path / "train" / "dog" / "broken.jpg").write_bytes(b"not an image")
    bundle = build_data(str(tmp_path), CFG)
    assert len(bundle.labeled) == 5
    assert bundle.labeled.skipped[0][0] == str(tmp_path / "train" / "dog" / "broken.jpg")
    assert bundle.labeled.skipped[0][1].startswith("unreadable header")


def test_links_loops_and_unreadable_directories_are_reported(tmp_path, monkeypatch):
    root = tmp_path / "u"
    write_image(root / "a" / "x.png", random_image(np.random.default_rng(0), 8, 8))
    os.symlink(root / "a", root / "a" / "loop")  # a directory link to its own parent
    os.symlink(root / "self", root / "self")  # a link to itself
    os.symlink(root / "missing.png", root / "dangling.png")
    (root / "locked").mkdir()
    write_image(root / "locked" / "y.png", random_image(np.random.default_rng(1), 8, 8))
    os.symlink(root / "a", root / "again")  # a second way to the same folder is not a loop
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == str(root / "locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    skipped = []
    assert walk_images(root, skipped) == ["a/x.png", "again/x.png"]
    reasons = dict(skipped)
    assert reasons[str(root / "a" / "loop")] == "symlink loop (points to a directory above it)"
    assert reasons[str(root / "again" / "loop")] == "symlink loop (points to a directory above it)"
    assert reasons[str(root / "self")] == "symlink loop"
    assert reasons[str(root / "dangling.png")] == "dangling symlink"
    assert reasons[str(root / "locked")].startswith("unreadable directory (PermissionError")
    bundle = build_data("digits", CFG, unlabeled=str(root))
    assert bundle.unlabeled.ids == ["a/x.png", "again/x.png"] and len(bundle.unlabeled.skipped) == 5


def test_val_class_missing_from_train_is_an_error_naming_it(tmp_path):
    image_folder(tmp_path)
    write_image(tmp_path / "val" / "bird" / "0.png", random_image(np.random.default_rng(0), 10, 10))
    with pytest.raises(ValueError, match=r"class folders the train split lacks: \['bird'\]"):
        build_data(str(tmp_path), CFG)


def test_empty_class_folder_warns(tmp_path):
    image_folder(tmp_path)
    (tmp_path / "train" / "emu").mkdir()
    with pytest.warns(DataWarning, match=r"class folders without images in .*train.*\['emu'\]"):
        bundle = build_data(str(tmp_path), CFG)
    assert bundle.class_names == ["cat", "dog", "emu"] and bundle.num_classes == 3


@pytest.mark.parametrize("empty", ["train", "val"])
def test_a_split_without_images_is_an_error(tmp_path, empty):
    image_folder(tmp_path, splits=("train", "val"))
    for path in (tmp_path / empty).rglob("*.png"):
        path.unlink()
    with pytest.raises(ValueError, match=f"split '.*{empty}' holds no usable images"):
        build_data(str(tmp_path), CFG)


def test_an_unlabeled_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="--unlabeled folder '.*none' holds no usable images"):
        build_data("digits", CFG, unlabeled=str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="--unlabeled folder not found"):
        build_data("digits", CFG, unlabeled=str(tmp_path / "absent"))


def test_unreadable_files_are_reported(tmp_path, monkeypatch):
    image_folder(tmp_path)
    locked = str(tmp_path / "train" / "cat" / "1.png")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: path != locked and real_access(path, mode))
    bundle = build_data(str(tmp_path), CFG)
    assert (
        "cat/1.png" not in bundle.labeled.ids
        and (locked, "unreadable file (permission denied)") in bundle.labeled.skipped
    )


def test_tar_val_class_missing_from_train_and_empty_tars(tmp_path):
    image_folder(tmp_path / "folder")
    write_image(tmp_path / "folder" / "val" / "bird" / "0.png", random_image(np.random.default_rng(0), 10, 10))
    tar_splits(tmp_path / "folder", tmp_path / "tars")
    with pytest.raises(ValueError, match=r"val.tar' has classes the train split lacks: \['bird'\]"):
        build_data(str(tmp_path / "tars"), CFG)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "val").mkdir()
    tar_splits(tmp_path / "empty", tmp_path / "empty_tars")
    with pytest.raises(ValueError, match="train.tar' holds no images timm can read"):
        build_data(str(tmp_path / "empty_tars"), CFG)
