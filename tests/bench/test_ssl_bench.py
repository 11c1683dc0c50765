"""The semi-supervised benchmark: its plan, each method's arguments, the summary, table and plot, and a tiny run."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from effl_plugins.bench import ssl
from effl_plugins.bench.ssl import METHODS, SSLPlan, markdown_table, method_kwargs, plot_results, summarise


def test_the_baseline_takes_as_many_steps_as_the_online_methods():
    plan = SSLPlan(epochs=4, batch_size=8, mu=7)
    assert plan.online_steps(20) == 4 * ((1437 - 20) // 56)
    assert plan.supervised_epochs(20) == plan.online_steps(20) // 3  # 20 labels at 8: 3 steps an epoch
    name, kwargs = method_kwargs("supervised", plan, 20, 1, None)
    assert name == "finetune" and kwargs["backbone_lr"] == kwargs["lr"] and kwargs["seed"] == 1
    assert kwargs["epochs"] == plan.supervised_epochs(20)


def test_every_method_maps_to_a_registered_strategy(tmp_path):
    import effl_plugins as ep

    for method in METHODS:
        name, kwargs = method_kwargs(method, SSLPlan(), 40, 0, tmp_path / "checkpoint.pt")
        assert name in ep.list_strategies()
        if method in ssl.OFFLINE:
            assert kwargs["teacher"].endswith("checkpoint.pt")
        if method in ssl.ONLINE:
            assert kwargs["flip"] is False and kwargs["mu"] == (1 if method == "mean_teacher" else 7)
    # Mean Teacher as USB runs it, for at least the others' step count: 3 passes of 1397 // 8 steps >= 480
    _, mt = method_kwargs("mean_teacher", SSLPlan(), 40, 0, None)
    assert (mt["epochs"], mt["consistency"], mt["ema_decay"], mt["ema_decay_after"]) == (3, 10.0, 0.99, 0.99)
    assert mt["rampup_epochs"] == pytest.approx(0.4 * 3)
    assert mt["epochs"] * (1397 // 8) >= SSLPlan().online_steps(40) > (mt["epochs"] - 1) * (1397 // 8)
    assert method_kwargs("noisy_student", SSLPlan(), 40, 0, tmp_path)[1]["rounds"] == 1
    with pytest.raises(ValueError, match="needs the supervised baseline"):
        method_kwargs("pseudo_label", SSLPlan(), 40, 0, None)
    with pytest.raises(ValueError, match="method must be one of"):
        method_kwargs("mixmatch", SSLPlan(), 40, 0, None)


RECORDS = [
    {"labels": n, "seed": s, "method": m, "accuracy": a}
    for n, m, values in [(20, "supervised", (0.5, 0.7)), (20, "fixmatch", (0.8, 0.9)), (40, "fixmatch", (0.9,))]
    for s, a in enumerate(values)
]


def test_summary_table_and_plot(tmp_path):
    rows = summarise(RECORDS)
    assert [(r["labels"], r["method"], r["runs"]) for r in rows] == [
        (20, "supervised", 2),
        (20, "fixmatch", 2),
        (40, "fixmatch", 1),
    ]
    assert rows[0]["mean"] == pytest.approx(0.6) and rows[0]["std"] == pytest.approx(0.1414213, rel=1e-5)
    assert rows[2]["std"] == 0.0
    table = markdown_table(rows)
    assert "| supervised | 60.0 ± 14.1 |  |" in table and "| fixmatch | **85.0 ± 7.1** | **90.0 ± 0.0** |" in table
    path = plot_results(rows, tmp_path / "ssl.png", "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": (0,)}, "--labels must be positive integers"),
        ({"seeds": ()}, "--seeds needs at least one seed"),
        ({"methods": ("mixmatch",)}, "--strategies must be among"),
        ({"jobs": 0}, "--jobs must be an integer >= 1"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ssl.run_ssl_bench(**{"out_dir": tmp_path, **kwargs})


def test_command_line_errors(capsys, tmp_path):
    assert ssl.main(["--labels", "0", "--out", str(tmp_path)]) == 2
    assert "--labels must be positive integers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ssl.main(["--epochs", "0"])


@pytest.mark.slow
def test_a_tiny_grid_end_to_end(tmp_path):
    plan = SSLPlan(epochs=1, student_epochs=1, mu=2)
    report = ssl.run_ssl_bench((10,), (0,), ("pseudo_label", "flexmatch"), plan, tmp_path, jobs=1, log=lambda s: None)
    assert {r["method"] for r in report["runs"]} == {"pseudo_label", "flexmatch"}  # the baseline ran as the teacher
    assert (tmp_path / "runs" / "labels10-seed0" / "supervised" / "checkpoint.pt").is_file()
    assert not list((tmp_path / "runs" / "labels10-seed0" / "flexmatch").rglob("*.pt"))  # only the teacher's kept
    written = json.loads((tmp_path / "ssl.json").read_text())
    assert written["summary"] == report["summary"] and all(0 <= r["accuracy"] <= 1 for r in written["runs"])
    assert (tmp_path / "ssl.md").read_text().startswith("| method | 10 labels |")
    assert (tmp_path / "ssl.png").is_file() and written["wall_seconds"] > 0


def test_a_finished_run_of_the_same_plan_is_reused(tmp_path):
    plan = dataclasses.asdict(SSLPlan(epochs=1))
    record = {"labels": 20, "seed": 0, "method": "fixmatch", "accuracy": 0.5, "best_accuracy": 0.6, "seconds": 1.0}
    (tmp_path / ssl.RECORD_NAME).write_text(json.dumps({"plan": plan, "record": record}))
    job = {"labels": 20, "seed": 0, "method": "fixmatch", "plan": plan, "out_dir": str(tmp_path), "baseline": None}
    assert ssl.run_one(job) == {**record, "reused": True}
    assert "(reused)" in ssl._line({**record, "reused": True})


def test_an_image_folder_splits_into_stratified_labeled_and_unlabeled(tmp_path):
    import cv2
    import numpy as np

    from effl_plugins.data import DataConfig, build_data

    rng = np.random.default_rng(0)
    for split, count in (("train", 5), ("val", 2)):
        for name in ("cat", "dog", "owl"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    config = DataConfig((3, 16, 16), "bilinear", (0.5,) * 3, (0.5,) * 3, 1.0)
    bundle = ssl.split_labeled(build_data(str(tmp_path), config), 7)
    labeled = bundle.labeled.targets.tolist()
    assert sorted(labeled) == [0, 0, 0, 1, 1, 2, 2]  # 7 over 3 classes: 3, 2, 2
    assert len(bundle.unlabeled) == 15 - 7 and set(bundle.unlabeled.targets.tolist()) == {-1}
    assert sorted(bundle.hidden_targets.tolist()) == [0, 0, 1, 1, 1, 2, 2, 2]
    assert not set(bundle.labeled.ids) & set(bundle.unlabeled.ids)
    assert bundle.unlabeled_eval.ids == bundle.unlabeled.ids
    with pytest.raises(ValueError, match="leaves no unlabeled images"):
        ssl.split_labeled(build_data(str(tmp_path), config), 13)


def test_the_seed_draws_the_labeled_digits_and_the_baseline_gets_the_weak_view():
    plan = SSLPlan()
    first, second = ssl._data(40, 0, plan), ssl._data(40, 1, plan)
    assert set(first.labeled.ids) != set(second.labeled.ids) and first.test.ids == second.test.ids
    assert torch.bincount(first.labeled.targets).tolist() == [4] * 10
    assert not set(first.labeled.ids) & set(first.unlabeled.ids) and len(first.unlabeled) == 1437 - 40
    name, kwargs = ssl.method_kwargs("supervised", plan, 40, 0, None)
    assert name == "finetune" and kwargs["aug"] == ssl.SUPERVISED_AUG
    assert plan.supervised_epochs(40) * math.ceil(40 / plan.batch_size) == plan.online_steps(40)
