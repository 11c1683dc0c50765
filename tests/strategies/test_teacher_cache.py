"""Teacher once: a cache of the teacher's outputs on a distillation run's exact views, and students
trained from it with no teacher built."""

from __future__ import annotations

import json

import pytest
import torch

import effl_plugins as ep
from effl_plugins.errors import PseudoLabelStoreError, TeacherCacheError
from effl_plugins.strategies.teacher_cache import CACHE_FILE, CacheReader, ViewLayout
from effl_plugins.testing import small_digits

SETTINGS = {"epochs": 2, "batch_size": 16, "seed": 3, "lr": 3e-3, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=30, test=40, unlabeled=50)


@pytest.fixture(scope="module")
def teacher(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    ep.create_strategy("finetune", model="test_resnet", epochs=2, batch_size=16, device="cpu", progress=False).run(
        data, out_dir=out
    )
    return f"test_resnet:{out / 'checkpoint.pt'}"


@pytest.fixture(scope="module")
def cache(data, teacher, tmp_path_factory):
    root = tmp_path_factory.mktemp("cache") / "kd-cache"
    written = ep.create_strategy("distill", teacher=teacher, **SETTINGS).record_cache(data, root, shard_steps=2)
    assert written["complete"] and written["views"] == 2 * 80  # 30 labeled + 50 unlabeled, two epochs
    return root


def _metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_student_from_the_cache_trains_as_with_the_live_teacher(data, teacher, cache, tmp_path):
    live = ep.create_strategy("distill", teacher=teacher, loss="kd", **SETTINGS)
    live_summary = live.run(data, out_dir=tmp_path / "live")
    stored = ep.create_strategy("distill", teacher_cache=str(cache), loss="kd", **SETTINGS)
    stored_summary = stored.run(data, out_dir=tmp_path / "cached")
    assert stored.teacher_model is None
    first_live, first_cached = _metrics(tmp_path / "live")[0], _metrics(tmp_path / "cached")[0]
    # the stored distribution is softmax(logits) read back as log p: the first epoch's loss equal up to float
    # rounding; later the two runs part as runs differing in rounding do
    assert first_cached["train_loss"] == pytest.approx(first_live["train_loss"], rel=1e-4)
    assert abs(stored_summary["final_accuracy"] - live_summary["final_accuracy"]) <= 2 / 40


def test_views_are_a_function_of_epoch_step_and_rank(data, cache):
    info = json.loads((cache / CACHE_FILE).read_text())
    layout = ViewLayout(**info["layout"])
    assert (layout.steps, layout.batch_size, layout.per_rank) == (5, 16, 80)
    starts = [layout.offset(e, s, 0) for e in range(2) for s in range(5)]
    assert starts == [0, 16, 32, 48, 64, 80, 96, 112, 128, 144]
    assert [layout.shard_index(1, s) for s in range(5)] == [3, 3, 4, 4, 5]


def test_a_run_drawing_other_views_is_refused_naming_the_setting(data, cache):
    changes = (
        ({"seed": 4}, "seed"),
        ({"batch_size": 8}, "batch_size"),
        ({"aug": "flip"}, "aug"),
        ({"mixup": 0.2, "mixup_off_epoch": 1}, "mixup"),  # the first setting that differs is named
    )
    for change, name in changes:
        strategy = ep.create_strategy("distill", teacher_cache=str(cache), **{**SETTINGS, **change})
        with pytest.raises(
            TeacherCacheError, match=rf"teacher cache .*: holds other views .*{name} is .* in the cache"
        ):
            strategy.run(data)
    with pytest.raises(TeacherCacheError, match="holds 2 epochs of views; this run has 3"):
        ep.create_strategy("distill", teacher_cache=str(cache), **{**SETTINGS, "epochs": 3}).run(data)


def test_mixing_switched_off_at_another_epoch_is_other_views(data, teacher, tmp_path):
    mixing = {**SETTINGS, "mixup": 0.2, "mixup_off_epoch": 1}
    root = tmp_path / "cache"
    ep.create_strategy("distill", teacher=teacher, **mixing).record_cache(data, root, shard_steps=5)
    with pytest.raises(TeacherCacheError, match=r"mixup_off_epoch is 1 in the cache and 0 here"):
        ep.create_strategy("distill", teacher_cache=str(root), **{**mixing, "mixup_off_epoch": 0}).run(data)
    info = json.loads((root / CACHE_FILE).read_text())
    del info["views"]["mixup_off_epoch"]  # a cache recorded before the setting was listed: mixing never off
    (root / CACHE_FILE).write_text(json.dumps(info))
    with pytest.raises(TeacherCacheError, match=r"mixup_off_epoch is 0 in the cache and 1 here"):
        ep.create_strategy("distill", teacher_cache=str(root), **mixing).run(data)


@pytest.mark.parametrize("loss", ["fitnet", "mse_logits"])
def test_losses_that_need_more_than_the_distribution_are_refused(cache, loss):
    with pytest.raises(ValueError, match="teacher cache holds"):
        ep.create_strategy("distill", teacher_cache=str(cache), loss=loss, **SETTINGS)


def test_recording_into_a_non_empty_directory_needs_resume(data, teacher, cache):
    with pytest.raises(FileExistsError, match="not an empty directory"):
        ep.create_strategy("distill", teacher=teacher, **SETTINGS).record_cache(data, cache)


def test_a_corrupt_shard_is_named_when_read(data, teacher, tmp_path):
    root = tmp_path / "cache"
    ep.create_strategy("distill", teacher=teacher, **{**SETTINGS, "epochs": 1}).record_cache(data, root, shard_steps=5)
    shard = next(root.glob("shard-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:100])
    strategy = ep.create_strategy("distill", teacher_cache=str(root), **{**SETTINGS, "epochs": 1})
    with pytest.raises(PseudoLabelStoreError, match=shard.name):
        strategy.run(data)


def test_top_k_rows_spread_the_mass_they_leave_over_the_other_classes():
    reader = CacheReader.__new__(CacheReader)
    reader.top_k = 2
    probs = torch.tensor([[0.6, 0.3, 0.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0, 0.0]])
    recovered = reader.logits(probs).softmax(1)
    expected = torch.tensor([[0.6, 0.3, 0.1 / 3, 0.1 / 3, 0.1 / 3], [0.5, 0.0, 0.5, 0.0, 0.0]])
    assert torch.allclose(recovered, expected, atol=1e-6)


def test_a_stopped_recording_resumes_to_the_same_shards(data, teacher, cache, tmp_path):
    """Killed after its first epoch (the second epoch's shards and the complete flag gone), resumed: the
    store ends byte-identical to the uninterrupted one."""
    import shutil

    root = tmp_path / "cache"
    shutil.copytree(cache, root)
    manifest = root / "manifest-rank00000.json"
    body = json.loads(manifest.read_text())
    dropped = [s for s in body["shards"] if s["index"] >= 3]
    body["shards"], body["complete"] = [s for s in body["shards"] if s["index"] < 3], False
    manifest.write_text(json.dumps(body))
    for entry in dropped:
        (root / entry["file"]).unlink()
    from effl_plugins.train.checkpoints import atomic_save

    # the run directory holds the first epoch's checkpoint: move it back there
    checkpoint = torch.load(root / "run" / "checkpoint.pt", weights_only=False)
    checkpoint["epoch"], checkpoint["history"] = 1, checkpoint["history"][:1]
    atomic_save(checkpoint, root / "run" / "checkpoint.pt")
    ep.create_strategy("distill", teacher=teacher, **SETTINGS).record_cache(data, root, shard_steps=2, resume=True)
    for entry in body["shards"] + dropped:
        assert (root / entry["file"]).read_bytes() == (cache / entry["file"]).read_bytes()
    assert json.loads(manifest.read_text())["complete"]


def test_cli_records_a_cache_distils_from_it_and_refuses_other_views(teacher, tmp_path):
    import subprocess
    import sys

    common = [
        "--data",
        "digits",
        "--student",
        "test_resnet",
        "--epochs",
        "1",
        "-b",
        "256",
        "-j",
        "0",
        "--device",
        "cpu",
        "--img-size",
        "32",  # the teacher's size (small_digits); test_resnet's own 160 px costs 25x the compute, tests nothing more
    ]

    def effl(*args):
        return subprocess.run(
            [sys.executable, "-m", "effl_plugins.cli", *args], capture_output=True, text=True, cwd=tmp_path
        )

    recorded = effl("teacher-cache", "--teacher", teacher, "--top-k", "3", "--out", "cache", *common)
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout)["complete"] is True
    assert json.loads((tmp_path / "cache" / CACHE_FILE).read_text())["top_k"] == 3
    distilled = effl("distill", "--teacher-cache", "cache", "--out", "student", *common)
    assert distilled.returncode == 0, distilled.stderr
    assert json.loads(distilled.stdout)["teacher_cache"] == "cache"
    batch = common.index("-b") + 1
    refused = effl("distill", "--teacher-cache", "cache", *common[:batch], "128", *common[batch + 1 :])
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("effl distill: error: teacher cache 'cache': holds other")
    assert "batch_size is 256 in the cache and 128 here" in refused.stderr


@pytest.mark.slow
def test_two_ranks_record_their_own_shards_and_distil_from_them(teacher, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    from effl_plugins.strategies.selftrain.store import read_store

    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not on PATH")
    common = [
        "--data",
        "digits",
        "--student",
        "test_resnet",
        "--epochs",
        "1",
        "-b",
        "128",
        "-j",
        "0",
        "--device",
        "cpu",
        "--img-size",
        "32",  # the teacher's size (small_digits); test_resnet's own 160 px costs 25x the compute, tests nothing more
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def torchrun(*args):
        command = ["torchrun", "--nproc_per_node=2", "-m", "effl_plugins.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)

    recorded = torchrun("teacher-cache", "--teacher", teacher, "--out", "cache", *common)
    assert recorded.returncode == 0, recorded.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "cache").glob("manifest-rank*.json")) == [
        "manifest-rank00000.json",
        "manifest-rank00001.json",
    ]
    again = torchrun("teacher-cache", "--teacher", teacher, "--out", "cache", *common)  # no --resume
    assert again.returncode != 0 and "teacher cache 'cache' is not an empty directory" in again.stderr
    # rank 0 decides whether the directory held anything before any rank wrote, so a fresh recording's own
    # first files never make it refuse (the first recording above)
    store = read_store(tmp_path / "cache", trust_ids=True)  # every view of both ranks exactly once
    # 1,437 images padded to 1,438 by wrapping (each rank sees 719, as DistributedSampler pads)
    assert len(store.ids) == 1438 and {i.split(":")[2] for i in store.ids} == {"0", "1"}
    distilled = torchrun("distill", "--teacher-cache", "cache", "--out", "student", *common)
    assert distilled.returncode == 0, distilled.stderr[-3000:]
    one_process = subprocess.run(
        [sys.executable, "-m", "effl_plugins.cli", "distill", "--teacher-cache", "cache", *common],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert one_process.returncode == 2 and "world_size is 2 in the cache and 1 here" in one_process.stderr


def test_views_are_erased_in_the_students_normalisation_and_recorded_with_it(data):
    """Random Erasing writes its values in the normalisation of the model that reads the batch: a recording
    erases as the student's run will (not in the teacher's normalisation), and the cache records it."""
    from effl_plugins.strategies.teacher_cache import view_settings
    from effl_plugins.train.erasing import normalisation_of
    from effl_plugins.train.inputs import ModelInput
    from effl_plugins.train.tasks import TeacherRecordingTask

    student = ModelInput((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), (32, 32))
    teacher = ModelInput((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (32, 32))
    task = TeacherRecordingTask(torch.nn.Linear(2, 2), teacher, sink=None, student_input=student)
    assert task.view_input is student and task.model_input is teacher
    from effl_plugins.train import Engine, TrainConfig

    engine = Engine(task, data.labeled, data.test, TrainConfig(reprob=0.5, device="cpu"), num_classes=10)
    assert engine.erasing.op.mean == pytest.approx(normalisation_of(student)[0])
    views = view_settings({"reprob": 0.5}, list(range(4)), student, 1)
    assert views["erasing_mean_std"] == [list(v) for v in normalisation_of(student)]
    assert view_settings({"reprob": 0.0}, list(range(4)), student, 1)["erasing_mean_std"] is None


def test_a_float16_cache_holds_the_probabilities_rounded_and_a_student_learns_from_it(data, teacher, cache, tmp_path):
    from safetensors.torch import load_file

    from effl_plugins.strategies.selftrain.store import read_store

    root = tmp_path / "f16"
    written = ep.create_strategy("distill", teacher=teacher, **SETTINGS).record_cache(
        data, root, shard_steps=2, precision="float16"
    )
    assert written["precision"] == "float16" and written["complete"]
    full, half = read_store(cache, trust_ids=True), read_store(root, trust_ids=True)
    assert half.ids == full.ids and torch.equal(half.probs, full.probs.half().float())
    assert all(load_file(p)["probs"].dtype == torch.float16 for p in root.glob("shard-*.safetensors"))
    shard_bytes = {r: sum(p.stat().st_size for p in r.glob("shard-*.safetensors")) for r in (cache, root)}
    assert shard_bytes[root] < 0.8 * shard_bytes[cache]
    live = ep.create_strategy("distill", teacher=teacher, loss="kd", **SETTINGS)
    live.run(data, out_dir=tmp_path / "live")
    ep.create_strategy("distill", teacher_cache=str(root), loss="kd", **SETTINGS).run(data, out_dir=tmp_path / "half")
    # float16 rounding moves each probability by at most 2**-11 of itself: the first epoch's loss barely moves
    first_live, first_half = _metrics(tmp_path / "live")[0], _metrics(tmp_path / "half")[0]
    assert first_half["train_loss"] == pytest.approx(first_live["train_loss"], rel=2e-3)


@pytest.mark.slow
def test_a_recording_killed_by_sigkill_resumes_to_the_uninterrupted_store(teacher, tmp_path):
    """SIGKILL in the second of three epochs (the first epoch's checkpoint written, shards listed past it),
    then --resume: every shard and manifest byte-identical to a recording that was never stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    common = ["--data", "digits", "--student", "test_resnet", "--epochs", "3", "-b", "64", "-j", "0"]
    common += ["--device", "cpu", "--shard-steps", "1", "--teacher", teacher]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def effl(*args, wait=True):
        command = [sys.executable, "-m", "effl_plugins.cli", "teacher-cache", *common, *args]
        if not wait:
            return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    whole = effl("--out", "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = effl("--out", "killed", wait=False)
    target = tmp_path / "killed" / "shard-r00000-00030.safetensors"  # epoch 2 (23 steps an epoch)
    deadline = time.monotonic() + 300
    while not target.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, killed.stderr.read()[-2000:]
    manifest = json.loads((tmp_path / "killed" / "manifest-rank00000.json").read_text())
    assert not manifest["complete"] and 30 <= len(manifest["shards"]) < 69
    resumed = effl("--out", "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    stored = sorted(p.name for p in (tmp_path / "whole").iterdir() if p.suffix in (".json", ".safetensors"))
    assert len([n for n in stored if n.startswith("shard-")]) == 69
    assert sorted(p.name for p in (tmp_path / "killed").iterdir() if p.suffix in (".json", ".safetensors")) == stored
    for name in stored:
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
