"""``--data hfds/PATH``: a local Hugging Face dataset (saved to disk, or parquet files) as one more source
of the one data path: rows by index, ids from an id column or the row number, ClassLabel names as the
classes, the same per-image transforms as any source, one-line refusals."""

from __future__ import annotations

import builtins
import pickle

import pytest
import torch

from effl_plugins.data import DataConfig, StreamImageDataset, build_data
from effl_plugins.data.sources import ArraySource

from .shard_helpers import digit_images, hf_digits

datasets = pytest.importorskip("datasets")

CFG = DataConfig((3, 24, 24), "bilinear", (0.5,) * 3, (0.5,) * 3, 0.875)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf") / "saved"
    splits = {"train": hf_digits(60, ids=True), "validation": hf_digits(20, offset=100, ids=True)}
    datasets.DatasetDict(splits).save_to_disk(str(root))
    return root


def test_a_saved_dataset_dict_gives_ids_targets_and_class_names(saved):
    data = build_data(f"hfds/{saved}", CFG)
    _, targets = digit_images(60)
    assert data.labeled.ids == [f"d-{i:05d}" for i in range(60)] and data.test.ids[0] == "d-00100"
    assert data.labeled.targets.tolist() == targets.tolist()
    assert data.num_classes == 10 and data.class_names[3] == "digit3"
    assert data.labeled.exactly_once and len(pickle.dumps(data.labeled)) < 50_000


def test_a_row_goes_through_the_same_transform_as_the_same_image_in_memory(saved):
    data = build_data(f"hfds/{saved}", CFG)
    images, targets = digit_images(60)
    same = StreamImageDataset(ArraySource(images), targets, data.labeled.ids, data.labeled.transform)
    data.labeled.set_epoch(2)
    same.set_epoch(2)
    for i in (0, 17, 59):
        assert torch.equal(data.labeled[i][0], same[i][0])
    sub = data.labeled.subset([5, 1])
    assert sub.ids == ["d-00005", "d-00001"] and (sub.source.load(1) == images[1]).all()


def test_parquet_files_named_by_split_and_row_numbers_as_ids(tmp_path):
    hf_digits(30).to_parquet(str(tmp_path / "train-00000-of-00001.parquet"))
    hf_digits(12, offset=100).to_parquet(str(tmp_path / "test-00000-of-00001.parquet"))
    data = build_data(f"hfds/{tmp_path}", CFG)
    assert len(data.labeled) == 30 and len(data.test) == 12
    assert data.labeled.ids[:3] == ["0", "1", "2"] and data.class_names[0] == "digit0"
    assert data.labeled[4][0].shape == (3, 24, 24)


def test_unlabeled_rows_and_a_named_split(saved):
    data = build_data(f"hfds/{saved}", CFG, unlabeled=f"hfds/{saved}", val_split="validation")
    assert len(data.unlabeled) == 60 and set(data.unlabeled.targets.tolist()) == {-1}
    assert data.unlabeled.ids == data.labeled.ids


def test_refusals_name_what_and_where(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--val-split: the dataset .* has no split holdout \(it has"):
        build_data(f"hfds/{saved}", CFG, val_split="holdout")
    with pytest.raises(ValueError, match=r"an iterable Hugging Face dataset has no row index"):
        build_data(f"hfids/{saved}", CFG)
    unlabeled = tmp_path / "unlabeled"
    datasets.DatasetDict({"train": hf_digits(5, labeled=False), "test": hf_digits(4)}).save_to_disk(str(unlabeled))
    with pytest.raises(ValueError, match=r"\[train\]: no label column"):
        build_data(f"hfds/{unlabeled}", CFG)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        build_data(f"hfds/{tmp_path}/nowhere", CFG)


def test_a_missing_datasets_package_names_the_extra(saved, monkeypatch):
    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.split(".")[0] == "datasets":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr("importlib.import_module", refuse)
    with pytest.raises(ValueError, match=r"pip install 'effl-plugins\[hf\]'"):
        build_data(f"hfds/{saved}", CFG)
