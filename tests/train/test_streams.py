"""Seeded batch streams: batches are a pure function of (seed, stream, pass, rank)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DistributedSampler

from effl_plugins.train.streams import KeyedDataset, Stream


def _indices(batches):
    return [[i for i, _ in batch] for batch in batches]


def test_a_pass_covers_the_dataset_once_in_a_seeded_order():
    stream = Stream(10, 4, seed=5)
    first = list(stream.batches(0, 3))
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(sum(_indices(first), [])) == list(range(10))
    assert {p for batch in first for _, p in batch} == {0}
    second = list(stream.batches(3, 3))
    assert {p for batch in second for _, p in batch} == {1}
    assert sorted(sum(_indices(second), [])) == list(range(10))
    assert _indices(first) != _indices(second)


def test_batches_are_a_pure_function_of_seed_stream_and_pass():
    base = _indices(Stream(20, 4, seed=3).batches(0, 10))
    assert _indices(Stream(20, 4, seed=3).batches(0, 10)) == base
    assert _indices(Stream(20, 4, seed=4).batches(0, 10)) != base
    assert _indices(Stream(20, 4, seed=3, stream=1).batches(0, 10)) != base
    ordered = _indices(Stream(20, 4, seed=3, shuffle=False).batches(0, 5))
    assert sum(ordered, []) == list(range(20))


@pytest.mark.parametrize("start", [1, 2, 3, 5, 8])
def test_batches_from_start_equal_the_tail_of_batches_from_zero(start):
    stream = Stream(11, 3, seed=7)
    whole = list(stream.batches(0, 12))
    assert list(stream.batches(start, 12 - start)) == whole[start:]
    endless = stream.batches(start)
    assert [next(endless) for _ in range(4)] == whole[start : start + 4]


def test_a_final_batch_of_one_image_is_dropped():
    stream = Stream(9, 4, seed=0)
    assert stream.per_pass == 2
    assert [len(b) for b in stream.batches(0, 2)] == [4, 4]
    assert [len(b) for b in Stream(10, 4, seed=0).batches(0, 3)] == [4, 4, 2]
    with pytest.raises(ValueError, match="empty dataset"):
        Stream(0, 4, seed=0)
    with pytest.raises(ValueError, match="cannot make a training batch"):
        Stream(1, 4, seed=0)


def test_drop_last_keeps_only_full_batches():
    stream = Stream(10, 4, seed=0, drop_last=True)
    assert stream.per_pass == 2 and all(len(b) == 4 for b in stream.batches(0, 6))


@pytest.mark.parametrize(("length", "world"), [(12, 3), (10, 3), (7, 2), (5, 4)])
def test_rank_shards_cover_the_dataset_and_pad_by_wrapping_as_distributed_sampler(length, world):
    shards = [Stream(length, 100, seed=1, rank=r, world_size=world).shard(0).tolist() for r in range(world)]
    assert sorted(set(sum(shards, []))) == list(range(length))
    assert len({len(s) for s in shards}) == 1 and sum(map(len, shards)) == -(-length // world) * world
    if length % world == 0:
        assert len(set(sum(shards, []))) == length  # disjoint
    for rank in range(world):  # unshuffled: exactly DistributedSampler's indices
        ours = Stream(length, 100, seed=1, rank=rank, world_size=world, shuffle=False).shard(0).tolist()
        theirs = list(DistributedSampler(range(length), num_replicas=world, rank=rank, shuffle=False))
        assert ours == theirs


def test_rank_shards_of_one_pass_are_disjoint_slices_of_one_permutation():
    order = Stream(12, 2, seed=9).shard(4).tolist()
    shards = [Stream(12, 2, seed=9, rank=r, world_size=3).shard(4).tolist() for r in range(3)]
    assert shards == [order[r::3] for r in range(3)]


def test_keyed_dataset_sets_the_pass_before_reading():
    class Recording(torch.utils.data.Dataset):
        epoch = None

        def __len__(self):
            return 3

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __getitem__(self, index):
            return index, self.epoch

    keyed = KeyedDataset(Recording())
    assert keyed[(2, 7)] == (2, 7) and keyed[1] == (1, 0) and len(keyed) == 3
