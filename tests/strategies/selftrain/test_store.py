"""The pseudo-label store: exact contents, atomic shards, resume after a crash or SIGKILL, rank merging."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from effl_plugins.strategies.selftrain.labeler import label_dataset
from effl_plugins.strategies.selftrain.store import file_hash, read_store, state_dict_hash
from effl_plugins.train.inputs import ModelInput
from tests.tensor_images import TensorImageDataset

normalize = ModelInput((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # the labeler's default input

NUM_IMAGES, NUM_CLASSES, SHARD = 23, 5, 4


def tiny_teacher() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, NUM_CLASSES))


def tiny_dataset() -> TensorImageDataset:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (NUM_IMAGES, 3, 8, 8), generator=g, dtype=torch.uint8)
    return TensorImageDataset(images, ids=[f"img-{i:03d}.png" for i in range(NUM_IMAGES)])


def store_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


class Crash(RuntimeError):
    pass


def label(root, resume=False, on_shard=None, **kwargs):
    return label_dataset(
        tiny_teacher(),
        tiny_dataset(),
        root,
        num_classes=NUM_CLASSES,
        shard_size=SHARD,
        resume=resume,
        on_shard=on_shard,
        rank=kwargs.pop("rank", 0),
        world_size=kwargs.pop("world_size", 1),
        **kwargs,
    )


def test_store_holds_the_teachers_probabilities_in_dataset_order(tmp_path):
    label(tmp_path, temperature=2.0)
    labels = read_store(tmp_path, expected_ids=tiny_dataset().ids)
    data, teacher = tiny_dataset(), tiny_teacher()
    with torch.no_grad():
        expected = torch.softmax(teacher(normalize(data.images)) / 2.0, dim=1)
    torch.testing.assert_close(labels.probs, expected)
    assert labels.ids == data.ids
    assert labels.teacher_hash == state_dict_hash(teacher)
    manifest = json.loads((tmp_path / "manifest-rank00000.json").read_text())
    assert manifest["complete"] and [s["count"] for s in manifest["shards"]] == [4, 4, 4, 4, 4, 3]
    assert not any(p.name.endswith(".pkl") or ".tmp" in p.name for p in tmp_path.iterdir())


def test_resume_after_a_crash_gives_the_identical_store_and_labels_each_image_once(tmp_path):
    label(tmp_path / "whole")
    done = []

    def crash_after_two(index):
        done.append(index)
        if len(done) == 2:
            raise Crash

    with pytest.raises(Crash):
        label(tmp_path / "killed", on_shard=crash_after_two)
    with pytest.raises(ValueError, match="incomplete"):
        read_store(tmp_path / "killed", trust_ids=True)
    resumed = []
    label(tmp_path / "killed", resume=True, on_shard=resumed.append)
    assert resumed == [2, 3, 4, 5]  # shards 0 and 1 were not labelled again
    assert store_files(tmp_path / "killed") == store_files(tmp_path / "whole")


def test_a_shard_written_but_not_in_the_manifest_is_rewritten_on_resume(tmp_path):
    label(tmp_path / "whole")

    def crash(index):
        raise Crash

    with pytest.raises(Crash):
        label(tmp_path / "killed", on_shard=crash)
    (tmp_path / "killed" / "shard-r00000-00001.safetensors").write_bytes(b"half written")
    (tmp_path / "killed" / ".shard-r00000-00002.safetensors.tmp-1").write_bytes(b"stray")
    label(tmp_path / "killed", resume=True)
    assert store_files(tmp_path / "killed") == store_files(tmp_path / "whole")


def test_sigkill_mid_run_then_resume_gives_the_identical_store(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store import label
        def kill(index):
            if index == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        label({str(tmp_path / "killed")!r}, on_shard=kill)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    manifest = json.loads((tmp_path / "killed" / "manifest-rank00000.json").read_text())
    assert [s["index"] for s in manifest["shards"]] == [0, 1, 2] and not manifest["complete"]
    resumed = []
    label(tmp_path / "killed", resume=True, on_shard=resumed.append)
    label(tmp_path / "whole")
    assert resumed == [3, 4, 5]
    left = store_files(tmp_path / "killed")
    assert left.pop(".lock-rank00000") == b""  # the killed run's lock, emptied: the resumed run did not make it
    assert left == store_files(tmp_path / "whole")


def test_resume_refuses_a_store_written_by_another_teacher(tmp_path):
    label(tmp_path)
    with pytest.raises(ValueError, match="teacher_hash"):
        label(tmp_path, resume=True, teacher_hash="0" * 64)


def test_ranks_label_strided_shares_and_the_reader_merges_them(tmp_path):
    label(tmp_path / "single")
    label(tmp_path / "ranks", rank=0, world_size=3)
    with pytest.raises(ValueError, match="has 1 rank manifests, expected 3"):
        read_store(tmp_path / "ranks", trust_ids=True)
    for rank in (1, 2):
        label(tmp_path / "ranks", rank=rank, world_size=3)
    single, merged = read_store(tmp_path / "single", trust_ids=True), read_store(tmp_path / "ranks", trust_ids=True)
    assert merged.ids == single.ids
    torch.testing.assert_close(merged.probs, single.probs)
    positions = json.loads((tmp_path / "ranks" / "manifest-rank00001.json").read_text())
    assert positions["rank"] == 1 and sum(s["count"] for s in positions["shards"]) == len(range(1, NUM_IMAGES, 3))


def test_top_k_store_keeps_only_the_k_largest_probabilities(tmp_path):
    label(tmp_path / "full")
    label(tmp_path / "top2", top_k=2)
    ids = tiny_dataset().ids
    full = read_store(tmp_path / "full", expected_ids=ids).probs
    top2 = read_store(tmp_path / "top2", expected_ids=ids).probs
    assert (top2 > 0).sum(dim=1).tolist() == [2] * NUM_IMAGES
    values, indices = full.topk(2, dim=1)
    torch.testing.assert_close(top2.gather(1, indices), values)


def test_hashes_follow_the_weights_and_the_file_bytes(tmp_path):
    teacher = tiny_teacher()
    before = state_dict_hash(teacher)
    assert state_dict_hash(tiny_teacher()) == before
    with torch.no_grad():
        teacher[1].bias[0] += 1e-6
    assert state_dict_hash(teacher) != before
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights" * 1000)
    assert file_hash(path) == hashlib.sha256(b"weights" * 1000).hexdigest()


def test_rank_and_world_size_come_from_torchrun_environment(tmp_path, monkeypatch):
    from effl_plugins.strategies.selftrain.labeler import distributed_rank

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed_rank() == (1, 2)
    label_dataset(tiny_teacher(), tiny_dataset(), tmp_path, num_classes=NUM_CLASSES, shard_size=SHARD)
    manifest = json.loads((tmp_path / "manifest-rank00001.json").read_text())
    assert (manifest["rank"], manifest["world_size"]) == (1, 2)
    assert sum(s["count"] for s in manifest["shards"]) == len(range(1, NUM_IMAGES, 2))


def _write_one_shard_store(root: Path, probs: torch.Tensor, **spec_args) -> None:
    from effl_plugins.strategies.selftrain.store import RankManifest, StoreSpec, shard_name, write_shard

    spec = StoreSpec("t" * 64, len(probs), probs.shape[1], shard_size=len(probs), **spec_args)
    manifest = RankManifest(root, spec).open(resume=False)
    write_shard(root / shard_name(0, 0), range(len(probs)), [f"v{i}" for i in range(len(probs))], probs, spec)
    manifest.add(0, len(probs))
    manifest.complete = True
    manifest.save()


@pytest.mark.parametrize("top_k", [None, 3])
def test_a_float16_store_holds_each_probability_rounded_to_float16_and_reads_back_float32(tmp_path, top_k):
    from safetensors.torch import load_file

    probs = torch.softmax(torch.randn(40, 7, generator=torch.Generator().manual_seed(0)) * 4, dim=1)
    _write_one_shard_store(tmp_path / "f32", probs, top_k=top_k)
    _write_one_shard_store(tmp_path / "f16", probs, top_k=top_k, precision="float16")
    f32 = read_store(tmp_path / "f32", trust_ids=True).probs
    f16 = read_store(tmp_path / "f16", trust_ids=True).probs
    assert f16.dtype == torch.float32
    assert torch.equal(f16, f32.half().float())  # each kept probability rounded to nearest float16, no more
    shard = load_file(tmp_path / "f16" / "shard-r00000-00000.safetensors")
    if top_k is None:
        assert shard["probs"].dtype == torch.float16
    else:
        assert shard["topk_probs"].dtype == torch.float16 and shard["topk_ids"].dtype == torch.int16
    size = {p: (tmp_path / p / "shard-r00000-00000.safetensors").stat().st_size for p in ("f32", "f16")}
    assert size["f16"] < size["f32"]


def test_class_ids_take_the_smallest_integer_type_that_holds_them():
    from effl_plugins.strategies.selftrain.store import id_dtype

    assert id_dtype(1000, "float16") == torch.int16
    assert id_dtype(2**15, "float16") == torch.int16  # ids 0..32767
    assert id_dtype(2**15 + 1, "float16") == torch.int32
    assert id_dtype(21843, "float32") == torch.int64


def test_a_manifest_written_without_a_precision_reads_as_float32(tmp_path):
    probs = torch.softmax(torch.randn(6, 4, generator=torch.Generator().manual_seed(2)), dim=1)
    _write_one_shard_store(tmp_path, probs)
    path = tmp_path / "manifest-rank00000.json"
    body = json.loads(path.read_text())
    del body["precision"]
    path.write_text(json.dumps(body))
    torch.testing.assert_close(read_store(tmp_path, trust_ids=True).probs, probs, rtol=0, atol=0)


def test_resume_refuses_a_store_written_at_another_precision(tmp_path):
    from effl_plugins.errors import PseudoLabelStoreError
    from effl_plugins.strategies.selftrain.store import RankManifest, StoreSpec

    probs = torch.softmax(torch.randn(6, 4, generator=torch.Generator().manual_seed(2)), dim=1)
    _write_one_shard_store(tmp_path, probs)
    with pytest.raises(PseudoLabelStoreError, match=r"'precision': \('float32', 'float16'\)"):
        RankManifest(tmp_path, StoreSpec("t" * 64, 6, 4, shard_size=6, precision="float16")).open(resume=True)


def test_an_unknown_precision_is_refused_naming_the_choices():
    from effl_plugins.strategies.selftrain.store import StoreSpec

    with pytest.raises(ValueError, match=r"precision must be one of \['float16', 'float32'\], got 'bfloat16'"):
        StoreSpec("t" * 64, 6, 4, precision="bfloat16")


def test_the_commands_precision_choices_are_the_stores():
    from effl_plugins.commands._store_args import PRECISIONS as choices
    from effl_plugins.strategies.selftrain.store import PRECISIONS

    assert choices == tuple(PRECISIONS)
