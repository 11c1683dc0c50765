"""Every registered component, built-in or installed plugin, passes the public conformance checks."""

from __future__ import annotations

import pytest

import effl_plugins as ep
from effl_plugins.testing import check_augmentation, check_image_augmentation, check_loss, check_strategy

#: Strategy arguments small enough for a conformance run (one epoch, a tiny timm model).
STRATEGY_KWARGS: dict[str, dict] = {"noisy_student": {"rounds": 2}, "fixmatch": {"mu": 2}, "distill": {"teacher": "test_efficientnet"}}
STRATEGY_KWARGS.update({name: {"mu": 2} for name in ("flexmatch", "freematch", "softmatch", "uda")})
DEFAULT_STRATEGY_KWARGS = {"model": "test_resnet", "epochs": 1, "batch_size": 32}
#: Augmentations whose defaults need an argument for the checks (e.g. class counts for mixing).
AUGMENTATION_KWARGS: dict[str, dict] = {
    "cutmix": {"num_classes": 10},
    "mixup": {"num_classes": 10},
    "compose": {"ops": ["brightness(max_delta=0.2)", "rotate(degrees=15)", "flip"]},
}
LOSS_KWARGS: dict[str, dict] = {
    # check_loss also calls without targets: dkd then takes the teacher's argmax as the target class
    "dkd": {"target_from_teacher": True},
    # check_loss passes no features: the feature losses are then their logit part (CE, and KD here)
    "fitnet": {"kd_weight": 1.0},
    "attention_transfer": {"kd_weight": 1.0},
    "sp": {"kd_weight": 1.0},
    "crd": {"kd_weight": 1.0},
    "review_kd": {"kd_weight": 1.0},
    "nkd": {"target_from_teacher": True},
}


@pytest.mark.parametrize("name", ep.list_augmentations(backend="batch"))
def test_batch_augmentation_conforms(name):
    check_augmentation(name, **AUGMENTATION_KWARGS.get(name, {}))


@pytest.mark.parametrize("name", ep.list_augmentations(backend="image"))
def test_image_augmentation_conforms(name):
    check_image_augmentation(name, **AUGMENTATION_KWARGS.get(name, {}))


@pytest.mark.parametrize("name", ep.list_losses())
def test_loss_conforms(name):
    check_loss(name, **LOSS_KWARGS.get(name, {}))


@pytest.mark.parametrize("name", ep.list_strategies())
def test_strategy_conforms(name):
    check_strategy(name, **{**DEFAULT_STRATEGY_KWARGS, **STRATEGY_KWARGS.get(name, {})})


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

    class Leaky(ep.distill.DistillationLoss):
        def forward(self, student_logits, teacher_logits=None, targets=None, **features):
            loss = F.mse_loss(student_logits, teacher_logits)
            return {"loss": loss}

    with pytest.raises(AssertionError, match="leaked into the teacher"):
        check_loss(Leaky())
