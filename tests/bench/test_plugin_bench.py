"""``effl bench --ops/--losses`` for any registered component: plugin image ops get their per-image rows, results
go only inside ``--out`` (default ``./effl-bench``), unknown names and a loaded machine are reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from effl_plugins.augment.invert import Invert
from effl_plugins.bench import results
from effl_plugins.bench import run as bench_run
from effl_plugins.cli import main as effl
from effl_plugins.commands.bench import load_warning, machine_cores

from ..conftest import plugin_module

TINY = {
    "augment": {"cases": [{"batch": 2, "size": 16, "dtype": "uint8"}], "target_case": False, "image_images": 1},
    "loss": {"cases": [{"batch": 4, "classes": 10, "dtype": "float32"}]},
}


class PluginNegative(Invert):
    """An image-backend op from a plugin distribution."""

    def __init__(self, p: float = 0.5):
        super().__init__(p, backend="image")


class PluginScale(torch.nn.Module):
    def forward(self, student, teacher=None, targets=None):
        return {"loss": (student - teacher).square().mean()}


@pytest.fixture
def tiny_runs(monkeypatch):
    """Every ``run_bench`` of the command on one tiny case, quietly."""
    real = bench_run.run_bench

    def tiny(bench, **kwargs):
        return real(bench, **{**kwargs, "verbose": False, **TINY[bench]})

    monkeypatch.setattr(bench_run, "run_bench", tiny)


@pytest.fixture
def plugin(request):
    # the peers import albumentations, which reads the installed distributions' metadata at import; the
    # fake distribution is a complete one, and albumentations is imported before it is listed all the same
    pytest.importorskip("albumentations")
    fake_distributions = request.getfixturevalue("fake_distributions")

    def augmentations(register):
        register("plugin_negative", PluginNegative, backend="image")

    def losses(register):
        register("plugin_scale", PluginScale)

    fake_distributions(
        "zzz-bench-plugin",
        main=plugin_module("bench_plugin", register_augmentations=augmentations, register_losses=losses),
    )


@pytest.mark.slow
def test_plugin_components_get_rows_and_everything_lands_in_out(plugin, tiny_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "chosen"
    assert (
        effl(
            [
                "bench",
                "--quick",
                "--ops",
                "plugin_negative",
                "brightness",
                "--losses",
                "plugin_scale",
                "--out",
                str(out),
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chosen"]  # nothing beside --out
    assert {p.suffix for p in out.iterdir()} == {".json", ".png", ".md"} and (out / "RESULTS.md").exists()
    augment = results.validate(json.loads(next(out.glob("augment-cpu-*.json")).read_text()))
    rows = {(r["op"], r["impl"]) for r in augment["rows"]}
    assert ("plugin_negative", "effl image") in rows  # an image-only plugin op: its per-image rows, no peers
    assert not any(op == "plugin_negative" and impl != "effl image" for op, impl in rows)
    assert {
        ("brightness", "effl"),
        ("brightness", "kornia"),
        ("brightness", "albumentations"),
    } <= rows  # built-ins keep their peers
    loss = results.validate(json.loads(next(out.glob("loss-cpu-*.json")).read_text()))
    assert {(r["op"], r["mode"]) for r in loss["rows"]} == {("plugin_scale", "fwd"), ("plugin_scale", "fwd+bwd")}
    assert loss["threads"] == 1
    report = (out / "RESULTS.md").read_text()
    assert "plugin_negative" in report and "plugin_scale" in report and "issue" not in report.lower()
    assert "threads: 1" in capsys.readouterr().out


def test_default_out_is_effl_bench_in_the_current_directory(tiny_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert effl(["bench", "--quick", "--losses", "kd"]) == 0
    assert sorted(p.name for p in (tmp_path / "effl-bench").iterdir()) == [
        "RESULTS.md",
        "loss-cpu-torch" + torch.__version__.split("+")[0] + ".json",
        "loss-cpu.png",
    ]
    assert f"this machine has {machine_cores()} cores" in capsys.readouterr().out
    assert bench_run.default_out_dir() == tmp_path / "effl-bench"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ops", "no_such_op"], "--ops: unknown augmentation 'no_such_op'"),
        (["--losses", "kd", "nope"], "--losses: unknown loss 'nope'"),
        (["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_names_are_refused_before_anything_runs(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert effl(["bench", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_load_warning_only_when_other_work_shared_the_cores():
    assert load_warning([], 8, 8) is None
    assert load_warning([1.9, 2.4], 2, 2) is None  # the run's own two threads
    assert load_warning([0.4, 1.2], 8, 1) is None
    warning = load_warning([3.1, 6.9], 2, 2)
    assert "6.90 on 2 cores" in warning and "2 threads" in warning and "unreliable" in warning
    assert "unreliable" in load_warning([2.0], 16, 1)
    assert np.isfinite(machine_cores()) and machine_cores() >= 1


def test_a_fake_distribution_is_read_like_an_installed_one(fake_distributions):
    """Code that lists the installed metadata while a fake is there (``entry_points()``, an import that
    scans distributions, as albumentations' does) works as with real distributions only."""
    import importlib.metadata as metadata

    fake_distributions("zzz-complete", main=plugin_module("complete"))
    values = {ep.value for ep in metadata.entry_points(group="effl_plugins")}
    assert "_fake_zzz_complete_main" in values and "effl_plugins.losses.plugin" in values
    (fake,) = [d for d in metadata.distributions() if d.metadata["Name"] == "zzz-complete"]
    assert fake.version == "9.9" and fake._normalized_name == "zzz_complete"
