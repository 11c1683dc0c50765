"""build_data and create_loader: splits, streaming, per-item determinism, workers, tar and folder sources."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import timm.data
import torch

from effl_plugins.data import (
    UNLABELED,
    DataConfig,
    build_data,
    create_loader,
    eval_transform,
    train_transform,
)
from effl_plugins.data import sources as sources_module
from effl_plugins.data.digits import digits_split

from .helpers import image_folder, photo_folder, tar_splits

CFG = DataConfig((3, 24, 24), "bilinear", (0.5,) * 3, (0.5,) * 3, 0.875)


@pytest.fixture(scope="module")
def digits():
    return build_data("digits", CFG)


def test_digits_follow_the_fixed_stratified_disjoint_split(digits):
    split = digits_split()
    assert (len(digits.labeled), len(digits.test), len(digits.unlabeled)) == (100, 360, 1337)
    assert torch.equal(digits.labeled.targets.bincount(), torch.full((10,), 10))
    for ours, indices in ((digits.labeled, split.labeled), (digits.test, split.test)):
        assert ours.ids == split.ids(indices) and ours.targets.tolist() == split.targets[indices].tolist()
    assert digits.unlabeled.ids == split.ids(split.unlabeled)
    assert digits.hidden_targets.tolist() == split.targets[split.unlabeled].tolist()
    ids = [set(d.ids) for d in (digits.labeled, digits.test, digits.unlabeled)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert (digits.unlabeled.targets == UNLABELED).all() and digits.unlabeled_eval.ids == digits.unlabeled.ids
    assert digits.num_classes == 10 and digits.image_size == 24 and digits.data_config == CFG
    assert digits.class_names == [str(c) for c in range(10)] and digits.labeled.classes == digits.class_names


def test_digits_go_through_the_same_transforms(digits):
    split = digits_split()
    image, target = digits.test[5]
    upsampled = split.images[split.test[5]]
    assert torch.equal(image, eval_transform(CFG)(upsampled)) and target == int(split.targets[split.test[5]])
    expected = train_transform(CFG)(split.images[split.labeled[7]], np.random.default_rng((0, 0, 7)))
    assert torch.equal(digits.labeled[7][0], expected)
    assert torch.equal(digits.unlabeled_eval[3][0], eval_transform(CFG)(split.images[split.unlabeled[3]]))


def test_per_item_randomness_is_seed_epoch_index():
    a, b = build_data("digits", CFG, seed=3), build_data("digits", CFG, seed=3)
    assert torch.equal(a.labeled[4][0], b.labeled[4][0])
    first = a.labeled[4][0]
    a.labeled.set_epoch(1)
    assert not torch.equal(a.labeled[4][0], first)
    a.labeled.set_epoch(0)
    assert torch.equal(a.labeled[4][0], first)
    assert not torch.equal(build_data("digits", CFG, seed=4).labeled[4][0], first)
    assert torch.equal(a.test[4][0], a.test[4][0])
    with pytest.raises(ValueError, match="epoch must be a non-negative int, got -1"):
        a.labeled.set_epoch(-1)


def test_workers_do_not_change_batches_nor_the_global_rng(tmp_path):
    image_folder(tmp_path, per_class=(9, 8), suffix=".jpg")
    bundle = build_data(str(tmp_path), CFG, seed=1)
    bundle.labeled.set_epoch(2)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    runs = [list(create_loader(bundle.labeled, 5, shuffle=True, seed=7, workers=w)) for w in (0, 2)]
    assert torch.equal(torch.get_rng_state(), state)
    for (x0, y0), (x2, y2) in zip(*runs):
        assert x0.dtype == torch.uint8 and y0.dtype == torch.int64 and x0.shape[1:] == (3, 24, 24)
        assert torch.equal(x0, x2) and torch.equal(y0, y2)
    assert sum(len(y) for _, y in runs[0]) == 17
    again = [y for _, y in create_loader(bundle.labeled, 5, shuffle=True, seed=7)]
    assert torch.equal(torch.cat(again), torch.cat([y for _, y in runs[0]]))


def test_loader_takes_a_list_of_indices_as_sampler(digits):
    x, y = next(iter(create_loader(digits.test, 3, sampler=[5, 1, 9])))
    assert torch.equal(x, torch.stack([digits.test[i][0] for i in (5, 1, 9)]))
    assert y.tolist() == [int(digits.test.targets[i]) for i in (5, 1, 9)]


def test_loader_bad_arguments(digits):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        create_loader(digits.test, 0)
    with pytest.raises(ValueError, match="workers must be an integer >= 0, got -1"):
        create_loader(digits.test, 2, workers=-1)
    with pytest.raises(ValueError, match="shuffle=True and a sampler"):
        create_loader(digits.test, 2, sampler=[0], shuffle=True)


def test_folders_stream_nothing_decoded_up_front(tmp_path, monkeypatch):
    image_folder(tmp_path, per_class=(150, 150), size=(40, 56), suffix=".jpg")
    image_folder(tmp_path / "extra", splits=("u",), per_class=(20, 0), suffix=".jpg", seed=1)
    decoded = []
    real = sources_module.decode_checked
    monkeypatch.setattr(
        sources_module, "decode_checked", lambda data, path, limit: decoded.append(path) or real(data, path, limit)
    )
    bundle = build_data(str(tmp_path), CFG, unlabeled=str(tmp_path / "extra"))
    assert (len(bundle.labeled), len(bundle.test), len(bundle.unlabeled), len(bundle.unlabeled_eval)) == (
        300,
        300,
        20,
        20,
    )
    assert decoded == []
    assert bundle.labeled.ids[0] == "cat/0.jpg" and bundle.unlabeled.ids[0] == "u/cat/0.jpg"
    assert bundle.labeled.classes == ["cat", "dog"] and bundle.hidden_targets is None
    assert (bundle.unlabeled.targets == UNLABELED).all() and bundle.labeled.targets.bincount().tolist() == [150, 150]
    assert len(pickle.dumps(bundle.labeled)) < 30_000
    bundle.labeled[299]
    assert decoded == [str(tmp_path / "train" / "dog" / "149.jpg")]


def test_image_folder_photos_equal_timms_pipeline(tmp_path):
    photos = photo_folder(tmp_path)
    cfg = DataConfig((3, 64, 80), "bicubic", (0.4, 0.5, 0.6), (0.2, 0.3, 0.25), 0.9)
    bundle = build_data(str(tmp_path), cfg)
    assert bundle.class_names == ["china", "flower"] and bundle.test.ids == ["china/c.png", "flower/c.png"]
    timm_ds = timm.data.create_dataset("", root=str(tmp_path), split="validation", class_map={"china": 0, "flower": 1})
    timm_ds.transform = timm.data.create_transform(**cfg.to_dict(), is_training=False)
    mean, std = torch.tensor(cfg.mean).view(3, 1, 1), torch.tensor(cfg.std).view(3, 1, 1)
    for i in range(2):
        (ours, target), (theirs, their_target) = bundle.test[i], timm_ds[i]
        assert target == their_target
        assert (ours.double() / 255 - (theirs.double() * std + mean)).abs().max() <= 1 / 255 + 1e-6
    image, target = bundle.labeled[2]
    assert target == 1 and image.shape == (3, 64, 80)
    expected = train_transform(cfg)(photos["train/flower/a.png"], np.random.default_rng((0, 0, 2)))
    assert torch.equal(image, expected)


def test_tar_splits_read_through_timm(tmp_path):
    written = image_folder(tmp_path / "folder", per_class=(3, 2))
    tar_splits(tmp_path / "folder", tmp_path / "tars")
    folder, tars = build_data(str(tmp_path / "folder"), CFG), build_data(str(tmp_path / "tars"), CFG)
    assert tars.class_names == ["cat", "dog"] and len(tars.labeled) == 5 and len(tars.test) == 5
    assert tars.test.ids == folder.test.ids and torch.equal(tars.test.targets, folder.test.targets)
    for i in range(5):
        assert torch.equal(tars.test[i][0], folder.test[i][0])
        assert torch.equal(tars.labeled[i][0], folder.labeled[i][0])
    assert torch.equal(tars.test[0][0], eval_transform(CFG)(written["val/cat/0.png"]))
    batches = [torch.cat([x for x, _ in create_loader(tars.labeled, 2, workers=w)]) for w in (0, 2)]
    assert torch.equal(batches[0], batches[1])


def test_tar_photos_equal_timms_tar_pipeline(tmp_path):
    photo_folder(tmp_path / "folder")
    tar_splits(tmp_path / "folder", tmp_path / "tars")
    cfg = DataConfig((3, 56, 72), "bicubic", (0.5, 0.4, 0.3), (0.2, 0.2, 0.3), 0.8)
    bundle = build_data(str(tmp_path / "tars"), cfg)
    timm_ds = timm.data.create_dataset("", root=str(tmp_path / "tars" / "val.tar"), split="validation")
    timm_ds.transform = timm.data.create_transform(**cfg.to_dict(), is_training=False)
    mean, std = torch.tensor(cfg.mean).view(3, 1, 1), torch.tensor(cfg.std).view(3, 1, 1)
    assert bundle.test.ids == ["china/c.png", "flower/c.png"]
    for i in range(2):
        (ours, target), (theirs, their_target) = bundle.test[i], timm_ds[i]
        assert target == their_target and ours.shape == (3, 56, 72)
        assert (ours.double() / 255 - (theirs.double() * std + mean)).abs().max() <= 1 / 255 + 1e-6


def test_bad_specs(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data must be 'digits' or a dataset root"):
        build_data(str(tmp_path / "nope"), CFG)
    with pytest.raises(FileNotFoundError, match="has no train split"):
        build_data(str(tmp_path), CFG)
    with pytest.raises(TypeError, match="cfg must be a DataConfig"):
        build_data("digits", CFG.to_dict())
    with pytest.raises(ValueError, match="max_image_pixels must be None or an integer >= 1, got 0"):
        build_data("digits", CFG, max_image_pixels=0)
    with pytest.raises(ValueError, match="--unlabeled 'digits' goes with --data digits only"):
        image_folder(tmp_path)
        build_data(str(tmp_path), CFG, unlabeled="digits")


def _split(targets, classes=None):
    from effl_plugins.data import StreamImageDataset
    from effl_plugins.data.sources import ArraySource

    images = np.zeros((len(targets), 4, 4, 3), np.uint8)
    ids = [str(i) for i in range(len(targets))]
    return StreamImageDataset(ArraySource(images), targets, ids, lambda image: image, classes=classes)


def test_paired_splits_share_the_train_class_names_or_numbers_and_refuse_an_unknown_val_class():
    from effl_plugins.data.datasets import pair_splits

    train, val = pair_splits(_split([0, 2, 1], ["a", "b", "c"]), _split([2, 0]), "--val-split 'v' holds")
    assert train.classes == val.classes == ["a", "b", "c"]
    train, val = pair_splits(_split([0, 3], ["a", "b"]), _split([3]), "--val-split 'v' holds")
    assert train.classes == val.classes == ["0", "1", "2", "3"]  # names that miss an id: numbers
    with pytest.raises(ValueError, match=r"^--val-split 'v' holds class ids the train split lacks: \[4, 5\]$"):
        pair_splits(_split([0, 1]), _split([5, 1, 4]), "--val-split 'v' holds")
