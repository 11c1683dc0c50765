"""BatchMixing: timm's MixUp/CutMix flags on batches that may hold unlabeled rows."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.train import TrainConfig
from effl_plugins.train.mixing import BatchMixing

K = 4


def _batch(size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (8, 3, size, size), generator=g, dtype=torch.uint8)
    return images, torch.tensor([0, 1, -1, 2, -1, 3, 1, -1])


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("which", [{"mixup": 1.0}, {"cutmix": 1.0}, {"mixup": 0.8, "cutmix": 1.0}])
def test_unlabeled_rows_mix_and_any_unlabeled_mass_makes_a_row_unlabeled(mode, which):
    mixing = BatchMixing(TrainConfig(mixup_mode=mode, **which), K)
    images, targets = _batch()
    used = []
    choose = mixing._choose
    mixing._choose = lambda generator: used.append(choose(generator)) or used[-1]
    for seed in range(6):
        mixed, soft, labeled = mixing(images, targets, torch.Generator().manual_seed(seed))
        assert mixed.shape == images.shape and mixed.dtype == torch.uint8
        assert soft.shape == (8, K) and labeled.dtype == torch.bool
        params = used[-1].last_params
        partner = params["permutation"]
        if "lam" in params:
            partner_weight = 1.0 - params["lam"]
        else:
            box = params["box"]
            partner_weight = ((box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])).double() / images.shape[-1] ** 2
        # labeled: the row's own image is labeled and its partner either is too or brought nothing
        brought_unlabeled = (targets[partner] < 0) & (partner_weight > 0)
        assert torch.equal(labeled, (targets >= 0) & ~brought_unlabeled)
        assert brought_unlabeled.any() or (targets < 0).any()
        torch.testing.assert_close(soft[labeled].sum(1), torch.ones(int(labeled.sum())))
        assert (soft >= 0).all()


def test_with_all_rows_labeled_every_soft_target_sums_to_one():
    mixing = BatchMixing(TrainConfig(mixup=0.4, cutmix=1.0, mixup_mode="elem"), K)
    images, _ = _batch()
    targets = torch.arange(8) % K
    for seed in range(4):
        _, soft, labeled = mixing(images, targets, torch.Generator().manual_seed(seed))
        assert labeled.all()
        torch.testing.assert_close(soft.sum(1), torch.ones(8))


def test_mixing_is_off_without_alphas_and_reproducible_with_a_generator():
    assert not BatchMixing(TrainConfig(), K).enabled
    mixing = BatchMixing(TrainConfig(mixup=1.0, cutmix=1.0), K)
    images, targets = _batch()
    first = mixing(images, targets, torch.Generator().manual_seed(3))
    again = mixing(images, targets, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, again))


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_cutmix_minmax_box_sides_and_label_weight_equal_to_the_box_area(mode):
    low, high, side = 0.3, 0.6, 40
    mixing = BatchMixing(TrainConfig(cutmix_minmax=(low, high), mixup_mode=mode), K)
    assert mixing.cutmix is not None and mixing.mixup is None
    images, _ = _batch(side)
    targets = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    sides = []
    for seed in range(8):
        mixed, soft, labeled = mixing(images, targets, torch.Generator().manual_seed(seed))
        box, partner = mixing.cutmix.last_params["box"], mixing.cutmix.last_params["permutation"]
        heights, widths = box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]
        assert ((heights >= int(low * side)) & (heights <= int(high * side))).all(), box
        assert ((widths >= int(low * side)) & (widths <= int(high * side))).all(), box
        assert ((box[:, 0] >= 0) & (box[:, 1] <= side) & (box[:, 2] >= 0) & (box[:, 3] <= side)).all()
        area = (heights * widths).double() / side**2
        for row in range(8):
            if targets[partner[row]] == targets[row]:
                continue
            assert soft[row, targets[partner[row]]].item() == pytest.approx(area[row].item(), abs=1e-6)
            assert soft[row, targets[row]].item() == pytest.approx(1 - area[row].item(), abs=1e-6)
            top, bottom, left, right = box[row].tolist()
            assert torch.equal(mixed[row, :, top:bottom, left:right], images[partner[row], :, top:bottom, left:right])
        assert labeled.all()
        sides += heights.tolist()
    assert len(set(sides)) > 2  # the sides are drawn, not fixed
    if mode == "batch":
        assert len(set(heights.tolist())) == 1


@pytest.mark.parametrize("which", [{"mixup": 0.4}, {"cutmix": 1.0}])
def test_the_engine_mixes_probability_targets(which):
    """A pseudo-labelled student's targets are probability rows [B, K]: the engine mixes them too."""
    import timm

    from effl_plugins.strategies.selftrain.probability_targets import ProbabilityTargets
    from effl_plugins.testing import small_digits
    from effl_plugins.train import Engine, ModelInput, SupervisedTask

    data = small_digits(labeled=16, test=8, unlabeled=8)
    rows = torch.softmax(torch.randn(16, 10, generator=torch.Generator().manual_seed(0)), dim=1)
    train = ProbabilityTargets(data.labeled, rows)
    task = SupervisedTask(timm.create_model("test_resnet", num_classes=10), ModelInput.from_config(data.data_config))
    config = TrainConfig(epochs=1, batch_size=8, device="cpu", progress=False, **which)
    engine = Engine(task, train, data.test, config, num_classes=10)
    images, targets = next(iter(engine._loader(train, [[(i, 0) for i in range(8)]])))
    batch = engine._batch((images, targets), None, torch.Generator().manual_seed(0), torch.arange(8))
    assert batch.targets.shape == (8, 10) and bool(batch.labeled.all())
    torch.testing.assert_close(batch.targets.sum(1), torch.ones(8))
    assert not torch.equal(batch.targets, targets)  # mixed
    assert len(engine.fit()) > 0
