"""``--data wds/ROOT``: WebDataset shards as one more source of the one data path (keys as ids, the same
per-image transforms as any source), the split rule (every sample once per epoch across ranks and
workers, equal steps per rank) and the one-line refusals."""

from __future__ import annotations

import builtins
import io
import pickle
import tarfile

import pytest
import torch
from torch.utils.data import DataLoader

from effl_plugins.data import DataConfig, StreamImageDataset, build_data
from effl_plugins.data.shards import ShardSource
from effl_plugins.data.sources import ArraySource
from effl_plugins.train.streams import BatchList, KeyedDataset, Stream

from .shard_helpers import digit_images, write_shards

pytest.importorskip("webdataset")

CFG = DataConfig((3, 24, 24), "bilinear", (0.5,) * 3, (0.5,) * 3, 0.875)
TRAIN_SIZES = [40, 37, 23]  # shards that divide neither by 2 nor 3 ranks nor the batch size


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("wds")
    keys = write_shards(root, "train", TRAIN_SIZES)
    write_shards(root, "val", [30], offset=100)
    write_shards(root, "unl", [25, 20], offset=200, labeled=False)
    return root, keys


@pytest.fixture(scope="module")
def bundle(shards):
    root, _ = shards
    return build_data(f"wds/{root}", CFG, train_split="train-{0000..0002}.tar", val_split="val-0000.tar")


def test_keys_are_ids_and_cls_members_are_targets(bundle, shards):
    _, keys = shards
    _, targets = digit_images(sum(TRAIN_SIZES))
    assert bundle.labeled.ids == keys
    assert bundle.labeled.targets.tolist() == targets.tolist()
    assert bundle.num_classes == 10 and bundle.class_names == [str(c) for c in range(10)]
    assert len(bundle.test) == 30 and bundle.test.ids[0] == "val/00100"
    assert bundle.labeled.exactly_once and bundle.test.exactly_once
    assert len(pickle.dumps(bundle.labeled)) < 20_000  # names and offsets only: cheap into workers


def test_a_sample_goes_through_the_same_transform_as_the_same_image_in_memory(bundle):
    images, targets = digit_images(sum(TRAIN_SIZES))
    same = StreamImageDataset(ArraySource(images), targets, bundle.labeled.ids, bundle.labeled.transform)
    for epoch in (0, 3):
        bundle.labeled.set_epoch(epoch)
        same.set_epoch(epoch)
        for i in (0, 41, 99):
            got, want = bundle.labeled[i], same[i]
            assert torch.equal(got[0], want[0]) and got[1] == want[1]


def test_a_braced_pattern_a_glob_and_the_default_name_the_same_shards(shards):
    root, keys = shards
    for split in ("train-{0000..0002}.tar", "train-*.tar", None):
        assert build_data(f"wds/{root}", CFG, train_split=split).labeled.ids == keys


def test_unlabeled_shards_from_a_pattern_or_a_folder(shards, tmp_path):
    root, _ = shards
    data = build_data(f"wds/{root}", CFG, unlabeled=f"wds/{root}/unl-{{0000..0001}}.tar")
    assert len(data.unlabeled) == 45 and set(data.unlabeled.targets.tolist()) == {-1}
    assert data.unlabeled.ids[0] == "unl/00200" and data.unlabeled_eval.ids == data.unlabeled.ids
    write_shards(tmp_path, "unl", [5, 6], offset=300, labeled=False)
    assert len(build_data(f"wds/{root}", CFG, unlabeled=f"wds/{tmp_path}").unlabeled) == 11


@pytest.mark.parametrize(
    ("length", "batch", "world"),
    [(100, 16, 1), (100, 16, 2), (100, 16, 3), (97, 8, 4), (33, 16, 2), (65, 32, 2), (66, 32, 2), (7, 3, 3)],
)
def test_every_sample_once_per_pass_and_equal_steps_per_rank(length, batch, world):
    streams = [Stream(length, batch, seed=3, rank=r, world_size=world, exactly_once=True) for r in range(world)]
    assert len({s.per_pass for s in streams}) == 1
    for start in (0, streams[0].per_pass):  # two passes
        seen = []
        for stream in streams:
            batches = list(stream.batches(start, stream.per_pass))
            assert all(2 <= len(b) <= batch + 2 for b in batches)
            assert len({p for b in batches for _, p in b}) == 1
            seen += [i for b in batches for i, _ in b]
        assert sorted(seen) == list(range(length))


def test_drop_last_leaves_fewer_than_a_batch_per_rank_and_never_repeats():
    streams = [Stream(45, 8, seed=0, rank=r, world_size=2, exactly_once=True, drop_last=True) for r in range(2)]
    seen = [i for s in streams for b in s.batches(0, s.per_pass) for i, _ in b]
    assert streams[0].per_pass == 2 and len(seen) == len(set(seen)) == 32


def test_resumed_batches_are_the_tail_of_the_pass():
    stream = Stream(100, 16, seed=1, rank=1, world_size=3, exactly_once=True)
    whole = list(stream.batches(0, 2 * stream.per_pass))
    assert list(stream.batches(3, 2 * stream.per_pass - 3)) == whole[3:]


def test_two_ranks_of_two_workers_read_every_key_once(bundle, shards):
    _, keys = shards
    seen: list[str] = []
    recorder = _Recorder(bundle.labeled)
    for rank in range(2):
        stream = Stream(len(recorder), 16, seed=0, rank=rank, world_size=2, exactly_once=True)
        batches = BatchList(stream.batches(0, stream.per_pass))
        loader = DataLoader(KeyedDataset(recorder), batch_sampler=batches, num_workers=2)
        seen += [key for _, batch_keys in loader for key in batch_keys]
    assert sorted(seen) == sorted(keys)


class _Recorder(torch.utils.data.Dataset):
    """Items as ``(image, key)``: what a worker read, by key."""

    def __init__(self, dataset: StreamImageDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int):
        return self.dataset[index][0], self.dataset.ids[index]


# ------------------------------------------------------------------ refusals


def test_a_missing_shard_and_a_pattern_matching_nothing_are_named(shards):
    root, _ = shards
    with pytest.raises(FileNotFoundError, match=r"--train-split .*shard .*train-0003.tar' is missing"):
        build_data(f"wds/{root}", CFG, train_split="train-{0000..0003}.tar")
    with pytest.raises(FileNotFoundError, match=r"--val-split 'test-\*.tar' matches no shard under"):
        build_data(f"wds/{root}", CFG, val_split="test-*.tar")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        build_data(f"wds/{root}/nowhere", CFG)


def test_a_labeled_sample_without_a_label_is_named_with_its_shard(shards, tmp_path):
    root, _ = shards
    write_shards(tmp_path, "train", [5])
    write_shards(tmp_path, "val", [4], offset=10)
    (tmp_path / "train-0001.tar").write_bytes((root / "unl-0000.tar").read_bytes())
    with pytest.raises(ValueError, match=r"--train-split shard .*train-0001.tar': sample 'unl/00200' has no .cls"):
        build_data(f"wds/{tmp_path}", CFG)


def test_broken_shards_are_refused_in_one_line(tmp_path):
    write_shards(tmp_path, "val", [4])
    (tmp_path / "train-0000.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValueError, match=r"shard .*train-0000.tar' is not an uncompressed tar"):
        build_data(f"wds/{tmp_path}", CFG)
    _tar(tmp_path / "train-0000.tar", {"a.png": b"x", "a.cls": b"cat"})
    with pytest.raises(ValueError, match=r"sample 'a' has .cls 'cat'; a class id is a non-negative int"):
        build_data(f"wds/{tmp_path}", CFG)
    _tar(tmp_path / "train-0000.tar", {"a.cls": b"1"})
    with pytest.raises(ValueError, match=r"sample 'a' has no image member"):
        build_data(f"wds/{tmp_path}", CFG)
    write_shards(tmp_path, "train", [3, 3])
    (tmp_path / "train-0001.tar").write_bytes((tmp_path / "train-0000.tar").read_bytes())
    with pytest.raises(ValueError, match=r"sample key 'train/00000' is also in"):
        build_data(f"wds/{tmp_path}", CFG)


def test_a_missing_webdataset_names_the_extra(shards, monkeypatch):
    root, _ = shards
    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.split(".")[0] in ("webdataset", "braceexpand"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    monkeypatch.setattr("importlib.import_module", lambda name: refuse(name))
    with pytest.raises(ValueError, match=r"pip install 'effl-plugins\[webdataset\]'"):
        build_data(f"wds/{root}", CFG)


def test_a_truncated_shard_names_the_sample(shards, tmp_path):
    root, _ = shards
    write_shards(tmp_path, "train", [3])
    source = ShardSource([str(tmp_path / "train-0000.tar")], [0], [512], [10**6], ["train/00000"])
    with pytest.raises(Exception, match=r"train-0000.tar:train/00000.*truncated"):
        source.load(0)


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("form", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_the_header_index_lists_what_tarfile_lists(tmp_path, form):
    from effl_plugins.data.tar_index import tar_members

    names = ["a.png", "d" * 60 + "/" + "e" * 80 + ".png", "f" * 150 + ".cls", "ü/ñ.jpg"]
    if form == tarfile.USTAR_FORMAT:
        names = names[:2] + ["ascii/name.jpg"]
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w", format=form) as tar:
        tar.addfile(_dir_info("folder/"))
        for i, name in enumerate(names):
            info = tarfile.TarInfo(name)
            info.size = 700 * i + 3
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    with tarfile.open(path) as tar:
        want = [(m.name, m.offset_data, m.size) for m in tar if m.isfile()]
    with open(path, "rb") as handle:
        assert [tuple(m) for m in tar_members(handle)] == want


def test_the_header_index_refuses_a_compressed_or_cut_tar(tmp_path):
    from effl_plugins.data.tar_index import TarFormatError, tar_members

    write_shards(tmp_path, "s", [3])
    whole = (tmp_path / "s-0000.tar").read_bytes()
    with open(tmp_path / "s-0000.tar", "rb") as handle:
        first = next(m for m in tar_members(handle) if m.name.endswith(".png"))
    for cut, match in ((first.offset + 10, "runs past the end"), (first.offset - 100, "ends inside a header")):
        (tmp_path / "cut.tar").write_bytes(whole[:cut])
        with open(tmp_path / "cut.tar", "rb") as handle, pytest.raises(TarFormatError, match=match):
            list(tar_members(handle))
    with tarfile.open(tmp_path / "z.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "s-0000.tar", arcname="s.tar")
    with open(tmp_path / "z.tar.gz", "rb") as handle, pytest.raises(TarFormatError, match="no tar header at byte 0"):
        list(tar_members(handle))


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def test_a_set_made_only_of_streams_is_dealt_without_padding(bundle):
    from torch.utils.data import ConcatDataset, Subset

    from effl_plugins.train.streams import exactly_once

    digits = build_data("digits", CFG).labeled
    assert exactly_once(ConcatDataset([bundle.labeled, bundle.test])) and exactly_once(Subset(bundle.labeled, [1]))
    assert exactly_once(bundle.labeled.subset([3, 1])) and exactly_once(bundle.labeled.with_transform(lambda x: x))
    assert not exactly_once(digits) and not exactly_once(ConcatDataset([bundle.labeled, digits]))
