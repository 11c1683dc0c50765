"""Past one machine, rehearsed on this one with gloo on the CPU: an elastic restart (``torchrun
--max-restarts 1``) after a worker is killed mid-epoch resumes by itself (``--resume auto`` and
``--checkpoint-interval``) and ends on the weights of an uninterrupted run; two one-process "nodes" on
loopback (``--nnodes 2``, c10d rendezvous) finetune and distil as one two-process node does, rank 0 alone
writing the run directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch

from ._helpers import records

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH"),
]

#: A short two-epoch finetune of the digits (100 labeled: 7 steps an epoch on each of 2 ranks); every run
#: of a test takes these, then its own --out.
FLAGS = [
    "--data",
    "digits",
    "--epochs",
    "2",
    "-b",
    "8",
    "-j",
    "0",
    "--device",
    "cpu",
    "--log-interval",
    "0",
]
TIMEOUT = 420
#: The two-node runs' image size: the digits are 8x8 upsampled, and what these tests compare (files, weights,
#: records) does not depend on test_resnet's default 160 px; 32 px makes each step about 25x cheaper.
SMALL_IMAGES = ["--img-size", "32"]


def _env() -> dict[str, str]:
    """The launch environment; torchrun's rendezvous store is not shared with the workers, so a restarted
    worker group never reads the last attempt's addresses (pytorch/pytorch#135712; the README says so)."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
    }


def _launch(launcher: list[str], effl: list[str], out: Path) -> subprocess.Popen:
    """``torchrun LAUNCHER -m effl_plugins.cli EFFL --out OUT`` in its own session, output captured."""
    command = [shutil.which("torchrun"), *launcher, "-m", "effl_plugins.cli", *effl, "--out", str(out)]
    return subprocess.Popen(
        command,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    """Wait for ``process``; on a timeout its whole session is killed. Return code, stdout, stderr."""
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stdout, stderr


def _model_state(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]


def _assert_same_weights(got: Path, want: Path) -> None:
    a, b = _model_state(got), _model_state(want)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, first {differ[:3]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ elastic restart


def _children(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _worker(launcher: int, rank: int) -> int | None:
    """The pid of the torchrun worker of ``rank`` below ``launcher`` (its environment has ``RANK``)."""
    for pid in _children(launcher):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"TORCHELASTIC_RUN_ID" in b"\0".join(environ):
            return pid
    return None


def _saved_step(out: Path) -> tuple[int, int] | None:
    """(epoch, step) of ``out/checkpoint.pt``, None while there is none (a file being replaced is retried)."""
    try:
        state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError):
        return None
    return int(state["epoch"]), int(state["step"])


def _kill_mid_epoch(process: subprocess.Popen, out: Path) -> tuple[int, int]:
    """Once ``out`` holds a mid-epoch checkpoint, SIGKILL rank 1's worker; the (epoch, step) seen then."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        saved = _saved_step(out)
        if saved is not None and saved[1] > 0:
            pid = _worker(process.pid, rank=1)
            assert pid is not None, "no rank-1 worker found below torchrun"
            os.kill(pid, signal.SIGKILL)
            return saved
        time.sleep(0.02)
    raise AssertionError(f"no mid-epoch checkpoint appeared (torchrun exited {process.poll()})")


def test_killed_worker_restarts_and_resumes_exactly(tmp_path):
    effl = ["finetune", "--model", "test_resnet", *FLAGS, "--resume", "auto", "--checkpoint-interval", "2"]
    plain = _launch(["--standalone", "--nproc_per_node=2"], effl, tmp_path / "plain")
    code, _, stderr = _finish(plain)
    assert code == 0, stderr[-3000:]

    elastic = _launch(["--standalone", "--nproc_per_node=2", "--max-restarts", "1"], effl, tmp_path / "elastic")
    try:
        killed_at = _kill_mid_epoch(elastic, tmp_path / "elastic")
    finally:
        code, _, stderr = _finish(elastic)
    assert code == 0, stderr[-3000:]
    resumed = [line for line in stderr.splitlines() if line.startswith("resuming from epoch")]
    assert len(resumed) == 1, (killed_at, stderr[-3000:])  # only the restarted workers resume
    _assert_same_weights(tmp_path / "elastic", tmp_path / "plain")
    assert records(tmp_path / "elastic") == records(tmp_path / "plain")  # every record but the seconds


# ------------------------------------------------------------------ two nodes on loopback


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> str:
    """``test_resnet:CKPT``: a teacher finetuned for one epoch on the digits."""
    from effl_plugins.cli import main

    out = tmp_path_factory.mktemp("teacher") / "run"
    assert main(["finetune", "--model", "test_resnet", *FLAGS, *SMALL_IMAGES, "--epochs", "1", "--out", str(out)]) == 0
    return f"test_resnet:{out / 'checkpoint.pt'}"


def _two_nodes(effl: list[str], out: Path) -> list[tuple[int, str, str]]:
    """``effl`` as two one-process nodes meeting at a c10d rendezvous on loopback; each node's result."""
    port = _free_port()
    nodes = [
        _launch(
            [
                "--nnodes=2",
                "--nproc_per_node=1",
                f"--node_rank={rank}",
                "--rdzv_backend=c10d",
                f"--rdzv_endpoint=127.0.0.1:{port}",
                f"--rdzv_id=effl-{port}",
            ],
            effl,
            out,
        )
        for rank in (0, 1)
    ]
    return [_finish(node) for node in nodes]


@pytest.mark.parametrize("command", ["finetune", "distill", "fixmatch"])
def test_two_nodes_train_as_one_node_of_two(tmp_path, request, command):
    if command == "finetune":
        effl = ["finetune", "--model", "test_resnet", *FLAGS, *SMALL_IMAGES]
    elif command == "fixmatch":  # one epoch: 11 steps of 8 labeled + 56 unlabeled digits on each rank
        effl = [
            "self-train",
            "--strategy",
            "fixmatch",
            "--model",
            "test_resnet",
            *FLAGS,
            *SMALL_IMAGES,
            "--epochs",
            "1",
        ]
    else:  # one epoch: finetune's run covers the epoch boundary
        effl = ["distill", "--teacher", request.getfixturevalue("teacher"), "--student", "test_resnet", *FLAGS]
        effl += [*SMALL_IMAGES, "--epochs", "1"]
    code, _, stderr = _finish(_launch(["--standalone", "--nproc_per_node=2"], effl, tmp_path / "one"))
    assert code == 0, stderr[-3000:]

    nodes = _two_nodes(effl, tmp_path / "two")
    for code, _, stderr in nodes:
        assert code == 0, stderr[-3000:]
    printed = [stdout for _, stdout, _ in nodes if '"world_size": 2' in stdout]
    assert len(printed) == 1, "rank 0 alone reports"
    one = sorted(p.relative_to(tmp_path / "one").as_posix() for p in (tmp_path / "one").rglob("*"))
    two = sorted(p.relative_to(tmp_path / "two").as_posix() for p in (tmp_path / "two").rglob("*"))
    assert one == two  # the same files, each written once by rank 0 (written.json lists them)
    _assert_same_weights(tmp_path / "two", tmp_path / "one")
    assert records(tmp_path / "two") == records(tmp_path / "one")


def test_two_nodes_pseudo_label_as_one_node_of_two(tmp_path, teacher):
    """Each node labels its rank's strided share into its own shards; the store and the selection equal a
    single node's of two processes (shard for shard, byte for byte)."""
    effl = ["pseudo-label", "--teacher", teacher, "--unlabeled", "digits", "--shard-size", "256", "--threshold", "0.1"]
    code, _, stderr = _finish(_launch(["--standalone", "--nproc_per_node=2"], effl, tmp_path / "one"))
    assert code == 0, stderr[-3000:]
    for code, _, stderr in _two_nodes(effl, tmp_path / "two"):
        assert code == 0, stderr[-3000:]
    shards = sorted(p.name for p in (tmp_path / "one").glob("shard-*.safetensors"))
    assert sorted(p.name for p in (tmp_path / "two").glob("shard-*.safetensors")) == shards
    assert {name.split("-")[1] for name in shards} == {"r00000", "r00001"}  # both ranks wrote
    for name in [*shards, "selection.json"]:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
