"""The embedded default dataset and folder loaders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from effl_plugins.data import load_data, load_digits, load_image_folder, load_unlabeled_folder


def test_digits_split_is_fixed_stratified_and_disjoint():
    bundle = load_digits(num_labeled=100, num_test=360)
    assert (len(bundle.labeled), len(bundle.test), len(bundle.unlabeled)) == (100, 360, 1797 - 460)
    assert torch.equal(bundle.labeled.targets.bincount(), torch.full((10,), 10))
    assert (bundle.unlabeled.targets == -1).all() and len(bundle.hidden_targets) == len(bundle.unlabeled)
    ids = [set(d.ids) for d in (bundle.labeled, bundle.test, bundle.unlabeled)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert bundle.labeled.images.shape[1:] == (3, 32, 32) and bundle.labeled.images.dtype == torch.uint8
    assert load_digits().labeled.ids == bundle.labeled.ids


def test_image_folder_and_unlabeled_folder(tmp_path):
    for split in ("train", "val"):
        for cls, value in (("cat", 40), ("dog", 200)):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(tmp_path / split / cls / f"{i}.png"), np.full((20, 24, 3), value + i, np.uint8))
    (tmp_path / "train" / "dog" / "broken.jpg").write_bytes(b"not an image")
    train = load_image_folder(tmp_path, image_size=16)
    assert train.classes == ["cat", "dog"] and len(train) == 4 and train.targets.tolist() == [0, 0, 1, 1]
    assert [p for p, _ in train.skipped] == [str(tmp_path / "train" / "dog" / "broken.jpg")]
    bundle = load_data(str(tmp_path), image_size=16, unlabeled=str(tmp_path / "val"))
    assert bundle.num_classes == 2 and len(bundle.test) == 4 and len(bundle.unlabeled) == 4
    assert bundle.unlabeled.ids[0] == "cat/0.png"
    assert len(load_unlabeled_folder(tmp_path / "train", 16).skipped) == 1


def test_missing_paths_raise_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data must be 'digits'"):
        load_data(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="train"):
        load_image_folder(tmp_path)
