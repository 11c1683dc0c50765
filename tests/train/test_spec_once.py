"""``--aug SPEC`` from argv to the op that runs: the SPEC is parsed once (where the command line is read) and
each of its terms looked up in the augmentation registry once (where ``TrainConfig`` checks the run's
settings); the engine builds its pipeline from that same resolved SPEC. The walk is drawn in README.md's
Layout section."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

import effl_plugins as ep
import effl_plugins.augment.spec as spec_module
from effl_plugins._registry import Registry
from effl_plugins.augment.spec import ResolvedSpec, Spec, color_jitter_spec, join_specs, term_spec
from effl_plugins.cli import main
from effl_plugins.testing import small_digits
from effl_plugins.train import Engine, TrainConfig
from effl_plugins.train.config import SettingRefusedError

AUG = "brightness(max_delta=0.2)+flip"
IMAGE_AUG = "contrast(max_delta=0.1)"


@pytest.fixture
def parses(monkeypatch) -> Counter:
    """The SPEC strings :func:`~effl_plugins.augment.spec.parse_spec` parses while the test runs."""
    seen: Counter = Counter()
    parse = spec_module.parse_spec

    def counted(text):
        seen[str(text)] += 1
        return parse(text)

    monkeypatch.setattr(spec_module, "parse_spec", counted)
    return seen


@pytest.fixture
def lookups(monkeypatch) -> Counter:
    """``(name, backend)`` of every augmentation looked up in the registry while the test runs."""
    seen: Counter = Counter()
    get = Registry.get

    def counted(self, name, backend=None):
        if self.family == "augmentations":
            seen[(name, backend)] += 1
        return get(self, name, backend)

    monkeypatch.setattr(Registry, "get", counted)
    return seen


@pytest.fixture
def pipelines(monkeypatch) -> list:
    """Each engine's batch augmentation, as built."""
    built = []
    init = Engine.__init__

    def record(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append(self.augment)

    monkeypatch.setattr(Engine, "__init__", record)
    return built


def test_effl_finetune_parses_each_spec_once_and_looks_each_op_up_once(tmp_path, parses, lookups, pipelines):
    out = tmp_path / "run"
    argv = ["finetune", "--data", "digits", "--model", "test_resnet", "--epochs", "1", "--batch-size", "64"]
    argv += ["--img-size", "32", "--workers", "0", "--device", "cpu", "--out", str(out)]
    assert main([*argv, "--aug", AUG, "--image-aug", IMAGE_AUG]) == 0
    assert parses == {AUG: 1, IMAGE_AUG: 1}  # by the command line's first (and, with no -c file, only) pass
    assert lookups == {
        ("brightness", "batch"): 1,  # by TrainConfig, which holds the resolved SPEC the engine builds from
        ("flip", "batch"): 1,
        ("compose", "batch"): 1,
        ("contrast", "image"): 1,  # --image-aug, checked with the strategy; the loader builds from it
        ("random_resized_crop", "image"): 1,  # the loader's own crop (--scale) and flip (--hflip)
        ("flip", "image"): 1,
    }
    [pipeline] = pipelines
    assert [type(op).__name__ for op in pipeline.ops] == ["Brightness", "Flip"]
    args = yaml.safe_load((out / "args.yaml").read_text())
    assert (args["aug"], args["image_aug"]) == (AUG, IMAGE_AUG)  # the records hold the text


@pytest.mark.parametrize("where", ["command line", "config file"])
def test_with_a_config_file_each_spec_is_still_parsed_once(tmp_path, parses, where):
    """A ``-c`` file makes the command line parse twice (its values become defaults between the passes): each
    flag's text is converted once all the same."""
    settings = {"model": "test_resnet", "epochs": 1, "batch-size": 64, "img-size": 32, "workers": 0, "device": "cpu"}
    if where == "config file":
        settings["aug"] = AUG
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(settings))
    argv = ["finetune", "-c", str(config), "--data", "digits", "--out", str(tmp_path / "run")]
    argv += ["--image-aug", IMAGE_AUG] + (["--aug", AUG] if where == "command line" else [])
    assert main(argv) == 0
    assert parses == {AUG: 1, IMAGE_AUG: 1}
    args = yaml.safe_load((tmp_path / "run" / "args.yaml").read_text())
    assert (args["aug"], args["image_aug"], args["epochs"]) == (AUG, IMAGE_AUG, 1)


@pytest.fixture(scope="module")
def digits():
    return small_digits(labeled=20, test=10, unlabeled=0)  # its loader's ops looked up before the counts


def test_a_strategy_built_in_python_parses_its_aug_once(digits, parses, lookups, pipelines):
    strategy = ep.create_strategy("finetune", aug=AUG, epochs=1, batch_size=10, progress=False)
    assert isinstance(strategy.config.aug, ResolvedSpec) and strategy.config.aug == AUG
    strategy.run(digits, device="cpu")  # with_device makes a new config: the resolved SPEC goes with it
    assert parses == {AUG: 1}
    assert lookups == {("brightness", "batch"): 1, ("flip", "batch"): 1, ("compose", "batch"): 1}
    assert [type(op).__name__ for op in pipelines[0].ops] == ["Brightness", "Flip"]
    assert strategy.config.to_dict()["aug"] == AUG and type(strategy.config.to_dict()["aug"]) is str


def test_an_unknown_image_aug_is_refused_before_any_file(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["finetune", "--data", "digits", "--model", "test_resnet", "--epochs", "1", "--out", str(out)]
    assert main([*argv, "--image-aug", "flip+contrst(max_delta=0.1)"]) == 2
    assert not out.exists()
    assert "unknown augmentation 'contrst' with backend='image'; did you mean 'contrast'" in capsys.readouterr().err


def test_a_refused_aug_is_refused_before_it_is_looked_up(parses, lookups):
    with pytest.raises(SettingRefusedError, match="--strategy-arg strong=SPEC / weak=SPEC instead of --aug"):
        ep.create_strategy("fixmatch", aug="no_such_op")
    assert not lookups


def test_distill_refuses_smoothing_before_its_aug_is_looked_up(parses, lookups):
    """A distillation that trains no teacher refuses ``smoothing`` before the settings are checked: ``effl distill``
    turns its default ``--smoothing`` off and builds the strategy again, so the first build looks up nothing."""
    with pytest.raises(SettingRefusedError, match="distill trains no teacher here"):
        ep.create_strategy("distill", teacher="test_resnet", teacher_epochs=0, aug=AUG, smoothing=0.1)
    assert not lookups and parses == {}
    strategy = ep.create_strategy("distill", teacher="test_resnet", teacher_epochs=0, aug=AUG)
    assert lookups == {("brightness", "batch"): 1, ("flip", "batch"): 1, ("compose", "batch"): 1}
    assert strategy.teacher_epochs == 0 and parses == {AUG: 1}


def test_an_unknown_name_or_argument_is_refused_when_the_config_is_made():
    with pytest.raises(ep.UnknownComponentError, match="unknown augmentation 'no_such_op'"):
        TrainConfig(aug="flip+no_such_op")
    with pytest.raises(TypeError, match="max_dleta"):
        TrainConfig(aug="brightness(max_dleta=0.2)")
    with pytest.raises(ValueError):
        TrainConfig(aug="brightness(max_delta=-1)")  # a bad value: the augmentation is built once to check it


def test_the_specs_the_command_line_writes_are_what_their_text_parses_to(parses):
    jitter = color_jitter_spec([0.1, 0, 0.3], Spec.parse("flip"))
    vflip = term_spec("flip", {"direction": "vertical", "p": 0.5}, 'flip(direction="vertical", p=0.5)')
    written = [jitter, vflip, join_specs(vflip, "rotate(degrees=15)"), term_spec("contrast", {"max_delta": 0.4})]
    assert parses == {"flip": 1, "rotate(degrees=15)": 1}
    for spec in written:
        assert spec.terms == tuple(Spec.parse(str(spec)).terms)
    assert jitter == "flip+brightness(max_delta=0.1, mode='factor')+color(max_delta=0.3)"
