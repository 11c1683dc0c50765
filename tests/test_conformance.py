"""Every registered component, built-in or installed plugin, passes the public conformance checks."""

from __future__ import annotations

import pytest

import effl_plugins as ep
from effl_plugins.testing import (
    STRATEGY_CHECK_DEFAULTS,
    ConformanceCase,
    check_augmentation,
    check_loss,
    conformance_cases,
    conformance_kwargs,
    conformance_suite,
    conformance_tests,
)

# The suite a plugin runs over its own distribution, here over every installed one; a component
# whose defaults cannot be checked declares its arguments as ``conformance_kwargs``.
test_augmentation_conforms = conformance_tests(family="augmentations")
test_loss_conforms = conformance_tests(family="losses")
test_strategy_conforms = conformance_tests(family="strategies")


def test_suite_covers_every_registered_component_and_backend():
    cases = conformance_cases()
    assert [c for c in cases if c.family == "augmentations" and c.backend == "batch"] != []
    for family, list_names in (("losses", ep.list_losses), ("strategies", ep.list_strategies)):
        assert sorted(c.name for c in cases if c.family == family) == list_names()
    for backend in ("batch", "image"):
        names = [c.name for c in cases if c.family == "augmentations" and c.backend == backend]
        assert names == ep.list_augmentations(backend=backend)


def test_suite_reads_declared_arguments():
    by_id = {c.id: c for c in conformance_cases(distribution="effl-plugins")}
    assert by_id["augmentations/cutmix/batch"].kwargs == {"num_classes": 10}
    assert by_id["augmentations/compose/image"].kwargs["ops"][0] == "brightness(max_delta=0.2)"
    assert by_id["augmentations/brightness/batch"].kwargs == {}
    assert by_id["losses/dkd"].kwargs == {"target_from_teacher": True}
    assert by_id["strategies/finetune"].kwargs == STRATEGY_CHECK_DEFAULTS
    assert by_id["strategies/linear_probe"].kwargs == {**STRATEGY_CHECK_DEFAULTS, "model": "test_vit"}
    assert by_id["strategies/distill"].kwargs == {**STRATEGY_CHECK_DEFAULTS, "teacher": "test_efficientnet"}
    assert by_id["strategies/uda"].kwargs["mu"] == 2  # inherited from FixMatch
    assert {c.distribution for c in by_id.values()} == {"effl-plugins"}


def test_suite_for_one_distribution_and_family():
    cases = conformance_cases("effl_plugins_example")  # any spelling of the distribution name
    assert [c.id for c in cases] == [
        "augmentations/example_gaussian_noise/batch",
        "augmentations/example_gaussian_noise/image",
        "losses/example_cosine",
        "strategies/example_entropy_min",
        "strategies/example_nearest_centroid",
    ]
    params = conformance_suite("effl-plugins-example", family="losses")
    assert [p.id for p in params] == ["losses/example_cosine"] and isinstance(params[0].values[0], ConformanceCase)
    assert conformance_cases("effl-plugins-example", family=["augmentations"])[0].kwargs == {"max_sigma": 0.2}


def test_suite_refuses_what_would_check_nothing():
    with pytest.raises(ValueError, match="no component is registered by distribution 'not-installed'.*effl-plugins"):
        conformance_cases("not-installed")
    with pytest.raises(ValueError, match="family must be one of"):
        conformance_cases(family="loss")


def test_suite_names_a_plugin_that_failed_to_load(fake_distributions):
    fake_distributions("broken-dist", main="raise RuntimeError('boom at import')")
    with pytest.warns(ep.EfflWarning, match="boom"):
        ep.list_losses()
    with pytest.raises(ValueError, match="broken-dist.*did not load cleanly.*boom at import"):
        conformance_cases("broken-dist")


def test_declared_arguments_of_a_runtime_plugin():
    from effl_plugins.augment.brightness import Brightness

    class Declared(Brightness):
        conformance_kwargs = {"max_delta": 0.1}

    class Wrong(Brightness):
        conformance_kwargs = ["max_delta", 0.1]

    def hook(register):
        register("declared_op", batch=Declared)
        register("wrong_op", batch=Wrong)

    from .conftest import plugin_module

    ep.register_plugin(plugin_module("declared", register_augmentations=hook), "declared")
    try:
        assert conformance_kwargs(Declared) == {"max_delta": 0.1}
        assert conformance_kwargs(Brightness) == {}
        match = "'wrong_op' of plugin 'declared': .*Wrong.conformance_kwargs must be a dict"
        with pytest.raises(TypeError, match=match):
            conformance_cases(family="augmentations")
    finally:
        ep.unregister_plugin("declared")
    case = ConformanceCase("augmentations", "brightness", "batch", {"max_delta": 0.1})
    assert case.id == "augmentations/brightness/batch"
    case.run()


def test_strategy_defaults_only_where_accepted():
    def narrow(model="x", seed=0):
        """A strategy factory that takes two arguments."""

    narrow.conformance_kwargs = {"seed": 3}
    assert conformance_kwargs(narrow, "strategies") == {"model": "test_resnet", "seed": 3}
    assert conformance_kwargs(narrow, "losses") == {"seed": 3}


def test_checks_catch_a_broken_augmentation():
    from effl_plugins.augment.brightness import Brightness

    class InPlace(Brightness):
        def apply(self, images, targets, params):
            images.add_(1) if images.dtype == __import__("torch").uint8 else images.mul_(0.5)
            return images, targets

    with pytest.raises(AssertionError, match="in place"):
        check_augmentation(InPlace())

    class SameForAll(Brightness):
        def sample_params(self, images, generator=None):
            params = super().sample_params(images, generator)
            return {"delta": params["delta"][:1].expand_as(params["delta"]).contiguous()}

    with pytest.raises(AssertionError, match="not per sample"):
        check_augmentation(SameForAll())


def test_checks_catch_a_loss_that_leaks_into_the_teacher():
    import torch.nn.functional as F

    class Leaky(ep.losses.DistillationLoss):
        def forward(self, student_logits, teacher_logits=None, targets=None, **features):
            loss = F.mse_loss(student_logits, teacher_logits)
            return {"loss": loss}

    with pytest.raises(AssertionError, match="leaked into the teacher"):
        check_loss(Leaky())


def test_a_false_point_op_declaration_is_caught():
    import pytest
    import torch

    import effl_plugins as ep
    from effl_plugins.testing import check_augmentation

    class Blurring(type(ep.create_augmentation("sharpness"))):  # reads neighbours: not a point op
        point_op = True

    check_augmentation(ep.create_augmentation("posterize"))  # a true declaration passes
    with pytest.raises(AssertionError, match="point_op"):
        check_augmentation(Blurring(p=1.0))
    assert torch.__version__  # the check ran on torch tensors


def _check_settings() -> dict:
    """The settings the conformance suite gives every strategy, but the model."""
    return {k: v for k, v in STRATEGY_CHECK_DEFAULTS.items() if k != "model"}


def _zero_lr_strategy():
    """A strategy whose optimizer never moves the weights (every group's lr is 0)."""
    from effl_plugins.strategies import Strategy

    class ZeroLR(Strategy):
        name = "zero_lr"

        def run(self, data, *, out_dir=None, device=None, resume=False):
            self.with_device(device)
            model = self.build_model(self.model, data.num_classes)
            task = self.supervised_task(model, data)
            groups = [{"params": list(model.parameters()), "lr": 0.0}]
            summary = self.engine(task, data, out_dir, param_groups=groups, config=self.config.replace(sched="none"))
            return self.finish(model, summary.fit(resume=resume), out_dir)

    return ZeroLR("test_resnet", **_check_settings(), progress=False)


def _untrained_strategy():
    """A strategy that reports the accuracy of the model it built, never trained."""
    from effl_plugins.strategies import Strategy
    from effl_plugins.train import evaluate, resolve_device

    class Untrained(Strategy):
        name = "untrained"

        def run(self, data, *, out_dir=None, device=None, resume=False):
            model = self.build_model(self.model, data.num_classes)
            device = resolve_device(self.config.device)
            accuracy = evaluate(model.to(device), data.test, self.model_input(model, data), device)["top1"]
            summary = {"best_accuracy": accuracy, "final_accuracy": accuracy, "epochs": self.config.epochs}
            return self.finish(model, summary, out_dir)

    return Untrained("test_resnet", **_check_settings(), progress=False)


@pytest.mark.parametrize("make", [_zero_lr_strategy, _untrained_strategy], ids=["lr-0", "untrained"])
def test_check_strategy_fails_a_strategy_that_does_not_learn(make):
    from effl_plugins.testing import check_strategy

    with pytest.raises(AssertionError, match="did not learn: final accuracy"):
        check_strategy(make())


def test_check_strategy_passes_the_same_recipe_when_it_trains():
    """The zero-lr strategy's recipe with the optimizer's own rate learns: the check tells them apart."""
    from effl_plugins.testing import check_strategy

    check_strategy("finetune", **STRATEGY_CHECK_DEFAULTS, backbone_lr=3e-3, progress=False)
