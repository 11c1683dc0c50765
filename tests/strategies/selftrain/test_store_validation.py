"""read_store trusts nothing on disk: every malformed manifest, path, shard and mismatch is one
PseudoLabelStoreError naming the file; the store has one writer per rank."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from effl_plugins.errors import EfflError, LockHeldError, PseudoLabelStoreError
from effl_plugins.strategies.selftrain.store import read_store, store_lock

from .test_store import NUM_CLASSES, NUM_IMAGES, label, store_files, tiny_dataset

MANIFEST, SHARD0, SHARD1 = "manifest-rank00000.json", "shard-r00000-00000.safetensors", "shard-r00000-00001.safetensors"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("stores")
    label(root / "full")
    label(root / "top2", top_k=2)
    return root


@pytest.fixture
def store(pristine, tmp_path):
    """A fresh copy of a valid full store (23 images, 5 classes, shards of 4)."""
    return copy_store(pristine / "full", tmp_path / "store")


@pytest.fixture
def top2(pristine, tmp_path):
    return copy_store(pristine / "top2", tmp_path / "top2")


def copy_store(source: Path, target: Path) -> Path:
    target.mkdir()
    for name, data in store_files(source).items():
        (target / name).write_bytes(data)
    return target


def edit_manifest(root: Path, change) -> None:
    body = json.loads((root / MANIFEST).read_text())
    change(body)
    (root / MANIFEST).write_text(json.dumps(body))


def edit_shard(path: Path, **changes) -> None:
    """Rewrite a shard with some tensors replaced (None removes one); ``meta=`` replaces the metadata."""
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    meta = json.loads(metadata["effl"])
    meta.update(changes.pop("meta", {}))
    for key, value in changes.items():
        if value is None:
            tensors.pop(key)
        else:
            tensors[key] = value
    save_file(tensors, str(path), metadata={"effl": json.dumps(meta)})


def refused(root, file, problem, **expected):
    with pytest.raises(PseudoLabelStoreError, match=problem) as info:
        read_store(root, **({} if "expected_ids" in expected else {"trust_ids": True}), **expected)
    assert info.value.path == str(file)
    assert isinstance(info.value, ValueError) and isinstance(info.value, EfflError)
    assert str(info.value).startswith(f"pseudo-label store {str(file)!r}: ")


def probs_of(path: Path) -> torch.Tensor:
    with safe_open(str(path), framework="pt") as handle:
        return handle.get_tensor("probs")


# ------------------------------------------------------------------------------------------ paths


def test_a_valid_store_reads_back_with_every_expectation_met(store):
    data = tiny_dataset()
    labels = read_store(store, expected_ids=data.ids, expected_num_classes=NUM_CLASSES)
    assert read_store(store, trust_ids=True, expected_teacher_hash=labels.teacher_hash).ids == data.ids


def test_a_shard_path_climbing_out_with_dotdot_is_refused(store, tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.safetensors").write_bytes((store / SHARD0).read_bytes())
    edit_manifest(store, lambda m: m["shards"][0].update(file="../outside/x.safetensors"))
    refused(store, store / MANIFEST, r"'\.\./outside/x\.safetensors' climbs out with '\.\.'")


def test_an_absolute_shard_path_is_refused(store):
    edit_manifest(store, lambda m: m["shards"][0].update(file="/etc/passwd"))
    refused(store, store / MANIFEST, r"'/etc/passwd' is an absolute path")


def test_a_shard_in_a_subdirectory_is_refused(store):
    (store / "sub").mkdir()
    os.rename(store / SHARD0, store / "sub" / SHARD0)
    edit_manifest(store, lambda m: m["shards"][0].update(file=f"sub/{SHARD0}"))
    refused(store, store / MANIFEST, "is not a plain file name inside the store")


def test_a_shard_symlinked_out_of_the_store_is_refused(store, tmp_path):
    outside = tmp_path / "elsewhere.safetensors"
    os.rename(store / SHARD0, outside)
    (store / SHARD0).symlink_to(outside)
    refused(store, store / SHARD0, "is a link resolving outside the store")


def test_a_manifest_symlinked_out_of_the_store_is_refused(store, tmp_path):
    outside = tmp_path / "elsewhere.json"
    os.rename(store / MANIFEST, outside)
    (store / MANIFEST).symlink_to(outside)
    refused(store, store / MANIFEST, "is not a regular file inside the store")


def test_a_listed_shard_that_is_missing_is_refused(store):
    (store / SHARD1).unlink()
    refused(store, store / SHARD1, "listed in manifest-rank00000.json but not a file in the store")


# --------------------------------------------------------------------------------------- manifests


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{not json", "the manifest is not valid JSON"),
        ("[1, 2]", "a manifest must be a JSON object, got a JSON list"),
        ('"store"', "a manifest must be a JSON object, got a JSON str"),
    ],
)
def test_a_manifest_that_is_not_a_json_object_is_refused(store, text, problem):
    (store / MANIFEST).write_text(text)
    refused(store, store / MANIFEST, problem)


def test_a_manifest_missing_keys_is_refused(store):
    edit_manifest(store, lambda m: (m.pop("teacher_hash"), m.pop("shards")))
    refused(store, store / MANIFEST, r"lacks the keys \['teacher_hash', 'shards'\]")


@pytest.mark.parametrize(
    "key, value, problem",
    [
        ("version", 2, "unknown version 2; this reader knows version 1"),
        ("version", "1", "unknown version '1'"),
        ("format", "other", "format 'other' is not 'effl-pseudo-labels'"),
        ("num_images", "23", r"'num_images' is '23'; it must be an integer >= 0"),
        ("num_classes", 0, r"'num_classes' is 0; it must be an integer >= 1"),
        ("top_k", 9, r"'top_k' is 9; it must be null or 1..num_classes"),
        ("temperature", -1, r"'temperature' is -1"),
        ("rank", 3, r"'rank' is 3; it must be an integer in 0..world_size-1"),
        ("shards", {}, r"'shards' is \{\}; it must be a list"),
        ("complete", "yes", r"'complete' is 'yes'; it must be true or false"),
        ("precision", "bfloat16", r"'precision' is 'bfloat16'; it must be one of \['float16', 'float32'\]"),
    ],
)
def test_manifest_values_of_the_wrong_type_or_range_are_refused(store, key, value, problem):
    edit_manifest(store, lambda m: m.update({key: value}))
    refused(store, store / MANIFEST, problem)


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"file": SHARD0, "index": 0}, "exactly the keys"),
        ({"file": SHARD0, "index": "0", "count": 4}, "'index' and 'count' integers"),
        ({"file": SHARD0, "index": -1, "count": 4}, "must be >= 0"),
        ({"file": SHARD1, "index": 1, "count": 4}, "each index listed once"),
    ],
)
def test_malformed_shard_entries_are_refused(store, entry, problem):
    edit_manifest(store, lambda m: m["shards"].__setitem__(0, entry))
    refused(store, store / MANIFEST, problem)


def test_a_manifest_named_for_another_rank_is_refused(store):
    os.rename(store / MANIFEST, store / "manifest-rank00001.json")
    refused(store, store / "manifest-rank00001.json", "holds rank 0 but is not named 'manifest-rank00000.json'")


def test_ranks_that_disagree_are_refused(store):
    label(store, rank=1, world_size=2)  # rank 1 of a 2-rank run beside a 1-rank store
    refused(store, store, "ranks disagree on world_size: 1 .* vs 2")


# ----------------------------------------------------------------------------------------- shards


def test_a_truncated_shard_is_refused(store):
    data = (store / SHARD1).read_bytes()
    (store / SHARD1).write_bytes(data[: len(data) // 2])
    refused(store, store / SHARD1, "not a readable safetensors file")


def test_a_shard_that_is_not_safetensors_is_refused(store):
    (store / SHARD1).write_text("root:x:0:0:root:/root:/bin/bash\n")
    refused(store, store / SHARD1, "not a readable safetensors file")


@pytest.mark.parametrize(
    "value, problem",
    [
        (float("nan"), "is not finite"),
        (float("inf"), "is not finite"),
        (-0.25, r"has values outside \[0, 1\]"),
        (1.5, r"has values outside \[0, 1\]"),
    ],
)
def test_probabilities_that_are_not_finite_or_outside_0_1_are_refused(store, value, problem):
    probs = probs_of(store / SHARD1).clone()
    probs[2, 3] = value
    edit_shard(store / SHARD1, probs=probs)
    refused(store, store / SHARD1, rf"probs row 2 \(position 6\) {problem}")


def test_rows_that_do_not_sum_to_one_are_refused(store):
    probs = probs_of(store / SHARD1).clone()
    probs[0] *= 0.99
    edit_shard(store / SHARD1, probs=probs)
    refused(store, store / SHARD1, r"probs row 0 \(position 4\) does not sum to 1 within 0.001")
    probs[0] /= 0.99  # within 1e-3 is accepted
    probs[0, 0] += 5e-4
    edit_shard(store / SHARD1, probs=probs)
    read_store(store, trust_ids=True)


def test_probs_of_the_wrong_width_or_dtype_are_refused(store):
    probs = probs_of(store / SHARD1)
    edit_shard(store / SHARD1, probs=probs[:, :4].contiguous())
    refused(store, store / SHARD1, r"'probs' is torch.float32 \[4, 4\]; expected torch.float32 \[4, 5\]")
    edit_shard(store / SHARD1, probs=probs.double())
    refused(store, store / SHARD1, r"'probs' is torch.float64 \[4, 5\]")


@pytest.mark.parametrize("position", [-1, NUM_IMAGES])
def test_positions_outside_the_unlabeled_set_are_refused(store, position):
    edit_shard(store / SHARD1, positions=torch.tensor([4, 5, position, 7]))
    refused(store, store / SHARD1, rf"positions must lie in 0..{NUM_IMAGES - 1}")


def test_positions_of_the_wrong_dtype_are_refused(store):
    edit_shard(store / SHARD1, positions=torch.tensor([4, 5, 6, 7], dtype=torch.int32))
    refused(store, store / SHARD1, r"'positions' is torch.int32 \[4\]; expected torch.int64 \[4\]")


def test_a_position_labelled_twice_or_never_is_refused(store):
    edit_shard(store / SHARD1, positions=torch.tensor([4, 5, 3, 7]))  # 3 is shard 0's, 6 is nobody's
    refused(store, store / SHARD1, "labels position 3 twice")
    edit_shard(store / SHARD1, positions=torch.tensor([4, 5, 5, 7]))
    refused(store, store / SHARD1, "labels position 5 twice")


def test_a_wrong_count_is_refused(store):
    edit_manifest(store, lambda m: m["shards"][1].update(count=5))
    refused(store, store / SHARD1, r"must list 5 string ids \(the manifest's count\)")
    edit_manifest(store, lambda m: m["shards"][1].update(count=4))
    edit_shard(store / SHARD1, meta={"ids": ["a", "b", "c", "d", "e"]})
    refused(store, store / SHARD1, "must list 4 string ids")


def test_a_shard_of_another_teacher_is_refused(store):
    edit_shard(store / SHARD1, meta={"teacher_hash": "f" * 64})
    refused(store, store / SHARD1, f"was labelled by teacher '{'f' * 64}', the manifest's is")


def test_a_shard_without_its_metadata_or_tensors_is_refused(store):
    save_file({"positions": torch.tensor([4, 5, 6, 7]), "probs": probs_of(store / SHARD1)}, str(store / SHARD1))
    refused(store, store / SHARD1, "its metadata 'effl' must be a JSON object")
    edit_shard(store / SHARD0, probs=None)
    refused(store, store / SHARD0, r"holds the tensors \['positions'\]; a full shard holds \['positions', 'probs'\]")


def test_top_k_shards_are_checked(top2):
    shard = top2 / SHARD1
    with safe_open(str(shard), framework="pt") as handle:
        ids, values = handle.get_tensor("topk_ids"), handle.get_tensor("topk_probs")
    edit_shard(shard, topk_ids=torch.where(ids == ids[0, 0], NUM_CLASSES, ids))
    refused(top2, shard, rf"topk_ids must lie in 0..{NUM_CLASSES - 1}")
    edit_shard(shard, topk_ids=ids[:, :1].repeat(1, 2).contiguous())
    refused(top2, shard, "topk_ids repeat a class within a row")
    edit_shard(shard, topk_ids=ids, topk_probs=values * 3)
    refused(top2, shard, r"topk_probs row \d \(position \d\) (sums to more than 1|has values outside)")


# ------------------------------------------------------------------------------------- expectations


def test_ids_that_are_not_the_datasets_are_refused(store):
    ids = tiny_dataset().ids
    refused(
        store,
        store,
        r"position 2 holds image id 'img-002.png', the dataset's is 'other.png'",
        expected_ids=ids[:2] + ["other.png"] + ids[3:],
    )
    refused(store, store, "labels 23 images, the dataset has 22", expected_ids=ids[:-1])


def test_another_teacher_or_class_count_than_expected_is_refused(store):
    refused(store, store, "was labelled by teacher .*, expected '0000'", expected_teacher_hash="0000")
    refused(store, store, "has 5 classes, expected 10", expected_num_classes=10)


def test_a_missing_directory_or_manifest_is_refused(tmp_path):
    refused(tmp_path / "none", tmp_path / "none", "no such directory")
    refused(tmp_path, tmp_path, r"no manifest-rank\*\.json")


# --------------------------------------------------------------------------------------- writing


def test_a_second_writer_on_the_same_rank_is_refused_and_nothing_is_touched(store):
    before = store_files(store)
    with store_lock(store, rank=0):
        with pytest.raises(LockHeldError, match=rf"pseudo-label store '{store}' is in use by process {os.getpid()}"):
            label(store, teacher_hash="1" * 64)
    after = store_files(store)
    assert after == before
    label(store, rank=0, world_size=1)  # released: the next run writes


def test_resuming_over_a_corrupt_manifest_is_refused_naming_it(store):
    (store / MANIFEST).write_text('{"format": ')
    with pytest.raises(PseudoLabelStoreError, match="the manifest is not valid JSON") as info:
        label(store, resume=True)
    assert info.value.path == str(store / MANIFEST)


def test_stray_temporary_files_are_removed_when_labelling_resumes(store):
    for stray in (".shard-r00000-00002.safetensors.tmp-99-abc", ".manifest-rank00000.json.tmp-99-abc"):
        (store / stray).write_bytes(b"partial")
    label(store, resume=True)
    assert not [p.name for p in store.iterdir() if ".tmp-" in p.name]


def test_disk_full_while_labelling_leaves_no_temporary_file_and_resume_completes(pristine, tmp_path, monkeypatch):
    import errno

    from effl_plugins.errors import CheckpointError

    calls = []

    def fsync_then_full(fd):
        calls.append(fd)
        if len(calls) == 4:  # manifest, shard 0, manifest, then shard 1 finds the disk full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync_then_full)
    with pytest.raises(CheckpointError, match=r"cannot write '.*shard-r00000-00001\.safetensors': No space left"):
        label(tmp_path / "store")
    monkeypatch.undo()
    assert not [p.name for p in (tmp_path / "store").iterdir() if ".tmp-" in p.name]
    label(tmp_path / "store", resume=True)
    assert store_files(tmp_path / "store") == store_files(pristine / "full")


def test_store_files_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        label(tmp_path)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if not p.name.startswith(".lock")}
    assert set(modes.values()) == {0o640}, modes


@pytest.mark.slow
def test_two_labelling_processes_on_one_store_the_second_is_refused_naming_the_first(tmp_path):
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store import label
        def pause(index):
            if index == 0:
                print("labelling", flush=True)
                time.sleep(30)
        label({str(tmp_path)!r}, on_shard=pause)
    """)
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "labelling"
        with pytest.raises(LockHeldError, match=rf"pseudo-label store '{tmp_path}' is in use by process {first.pid}"):
            label(tmp_path, teacher_hash="2" * 64)
    finally:
        first.kill()
        first.wait()
    label(tmp_path, teacher_hash="2" * 64)  # the killed writer's lock is taken over
    assert read_store(tmp_path, trust_ids=True).teacher_hash == "2" * 64
