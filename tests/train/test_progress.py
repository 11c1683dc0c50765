"""What a run says on stderr: a line every ``--log-interval`` steps off a terminal (a bar on one), the
stop line after SIGTERM or Ctrl-C, the resume line, and the demo's stage lines."""

from __future__ import annotations

import io
import json
import math
import os
import re
import signal

import pytest

from effl_plugins.cli import main
from effl_plugins.testing import small_digits
from effl_plugins.train import TrainConfig, TrainingInterrupted
from effl_plugins.train import progress as progress_module
from effl_plugins.train.progress import EpochProgress, format_seconds

from ._helpers import engine, make_task, records

FINETUNE = [
    "finetune",
    "--data",
    "digits",
    "--model",
    "test_resnet",
    "--img-size",
    "32",
    "--epochs",
    "1",
    "--warmup-epochs",
    "0",
    "--batch-size",
    "32",
    "--workers",
    "0",
    "--device",
    "cpu",
]
LINE = re.compile(
    r"^epoch (\d+)/(\d+) step (\d+)/(\d+) loss ([\d.]+) \(avg ([\d.]+)\) lr (\S+) img/s ([\d.]+) eta \d+:\d\d:\d\d$"
)


def test_a_line_every_log_interval_step_of_a_command(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*FINETUNE, "--log-interval", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [m for m in map(LINE.match, err.splitlines()) if m]
    steps = math.ceil(records(out)[0]["train_samples"] / 32)
    assert [int(m[3]) for m in lines] == list(range(1, steps + 1)), err
    assert all(int(m[4]) == steps and m[1] == m[2] == "1" for m in lines)
    assert all(float(m[8]) > 0 and math.isfinite(float(m[5])) and float(m[7]) > 0 for m in lines)
    assert re.search(r"^epoch 1/1: train_loss [\d.]+ eval_top1 [\d.]+ lr \S+ \([\d.]+s\)$", err, re.M), err


def _run(steps: int, interval: int, mode: str, **kwargs) -> tuple[str, list]:
    stream, reports = io.StringIO(), []
    progress = EpochProgress(
        epoch=2,
        epochs=3,
        steps=steps,
        interval=interval,
        mode=mode,
        stream=stream,
        lr=lambda: 0.5,
        on_report=lambda scalars, step: reports.append((step, scalars)),
        **kwargs,
    )
    for step in range(steps - progress.done):
        progress.update(float(step), 4)
    progress.close()
    return stream.getvalue(), reports


def test_lines_every_interval_and_at_the_end_of_the_epoch():
    text, reports = _run(7, 3, "lines")
    assert [int(LINE.match(line)[3]) for line in text.splitlines()] == [3, 6, 7]
    assert [step for step, _ in reports] == [10, 13, 14]  # global steps: one epoch of 7 before
    assert reports[0][1]["train_loss"] == 1.0 and reports[0][1]["lr"] == 0.5 and reports[0][1]["img_per_s"] > 0


def test_off_prints_nothing_and_still_feeds_the_trackers():
    text, reports = _run(4, 2, "off")
    assert text == "" and [step for step, _ in reports] == [6, 8]
    quiet = EpochProgress(epoch=1, epochs=1, steps=3, mode="off")
    assert not quiet.active  # the engine skips it on every step


def test_a_resumed_epoch_counts_from_where_it_stopped():
    text, _ = _run(6, 2, "lines", done=3)
    assert [int(LINE.match(line)[3]) for line in text.splitlines()] == [4, 6]


def test_the_bar_redraws_one_line(monkeypatch):
    monkeypatch.setattr(progress_module, "BAR_REFRESH", 0.0)
    text, _ = _run(4, 0, "bar")
    frames = [frame for frame in text.split("\r") if frame.strip("\x1b[K")]
    assert "\n" not in text and len(frames) == 4 and "[##########----------]" in frames[1]
    assert "step 4/4" in frames[-1] and text.endswith("\r\x1b[K")  # cleared for the epoch line


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 59.6, 3725)] == ["0:00:00", "0:01:00", "1:02:05"]


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=20, test=16, unlabeled=24)


def _stop_with(task, signum: int, call: int):
    """Send ``signum`` to this process from inside the task's forward number ``call``."""
    calls, forward = [0], task.forward

    def forward_and_signal(batch):
        calls[0] += 1
        if calls[0] == call:
            os.kill(os.getpid(), signum)
        return forward(batch)

    task.forward = forward_and_signal
    return task


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stop_line_then_resume_line(data, tmp_path, capsys, signum, status):
    config = TrainConfig(epochs=2, batch_size=8, lr=1e-2, seed=3, device="cpu", amp="off", log_interval=1)
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as stopped:  # 20 images at 8: 3 steps an epoch
        engine(_stop_with(make_task("supervised", data), signum, 5), data, out, config).fit()
    assert stopped.value.code == status
    err = capsys.readouterr().err
    assert f"stopped at epoch 2 step 2/3 (saved in {out}); continue with resume=True" in err.splitlines()[-1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    engine(make_task("supervised", data), data, out, config).fit(resume=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"resuming from epoch 2 step 2 of {out}"
    assert [int(LINE.match(line)[3]) for line in lines if LINE.match(line)] == [3]


def test_progress_false_prints_no_step_line(data, tmp_path, capsys):
    config = TrainConfig(epochs=1, batch_size=8, device="cpu", log_interval=1, progress=False)
    engine(make_task("supervised", data), data, tmp_path / "run", config).fit()
    assert capsys.readouterr().err == ""


def test_a_command_stopped_in_process_says_to_add_resume(tmp_path, capsys, monkeypatch):
    from effl_plugins.train import engine as engine_module

    out = tmp_path / "run"
    real = engine_module.Engine._should_stop
    monkeypatch.setattr(engine_module.Engine, "_should_stop", lambda self: self.step == 2 or real(self))
    with pytest.raises(TrainingInterrupted):
        main([*FINETUNE, "--epochs", "2", "--out", str(out)])
    assert "stopped at epoch 1 step 2/4" in capsys.readouterr().err
    monkeypatch.setattr(engine_module.Engine, "_should_stop", real)
    assert main([*FINETUNE, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert f"resuming from epoch 1 step 2 of {out}" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2


def test_demo_announces_each_stage(tmp_path, monkeypatch):
    from effl_plugins.demo import run as demo

    stages = [("first", lambda: 0.5), ("second", lambda: 0.75)]
    monkeypatch.setattr(demo, "_stages", lambda *args: stages)
    monkeypatch.setattr(demo, "demo_data", lambda *args: small_digits(labeled=20, test=16, unlabeled=24))
    lines: list[str] = []
    demo.run_demo(tmp_path, quick=True, log=lambda line: None, announce=lines.append)
    assert [re.sub(r"\d+:\d\d\)?$", "T", line.split(" in ")[0]) for line in lines] == [
        "demo: stage 1/2 first: started at T",
        "demo: stage 1/2 first: done",
        "demo: stage 2/2 second: started at T",
        "demo: stage 2/2 second: done",
    ]
    assert "accuracy 75.00%" in lines[-1]
