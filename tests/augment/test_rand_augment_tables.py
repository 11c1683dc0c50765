"""RandAugment / TrivialAugment on uint8 CPU batches: the per-op-set tables (slot matrices, point-op tables) and
the per-call shortcuts give what the computed path and the op-by-op reference give, bit for bit."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep
from effl_plugins.augment.auto import device_path
from effl_plugins.augment.auto.device_path import BIN_LEVELS, draw_codes


def _draws(aug, batch: int, slots: int, seed: int, integer_bins: bool = True):
    g = torch.Generator().manual_seed(seed)
    ops = torch.randint(len(aug.op_names), (batch, slots), generator=g)
    if integer_bins:
        magnitude = BIN_LEVELS[torch.randint(31, (batch, slots), generator=g)]
    else:
        magnitude = torch.rand(batch, slots, generator=g)
    sign = torch.where(torch.rand(batch, slots, generator=g) < 0.5, -1.0, 1.0)
    return {"ops": ops, "magnitude": magnitude, "sign": sign}


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("slots", [1, 2, 4])
@pytest.mark.parametrize("size", [(32, 32), (17, 23), (1, 1)])
def test_tabled_geometry_equals_computed(wide, slots, size):
    space = device_path.WIDE_SPACE if wide else device_path.RAND_AUGMENT_SPACE
    aug = ep.create_augmentation("rand_augment")
    images = torch.zeros(300, 3, *size, dtype=torch.uint8)
    p = _draws(aug, 300, slots, seed=slots)
    codes = draw_codes(p["ops"], p["magnitude"], p["sign"])
    assert codes is not None
    tabled = device_path.composed_geometry(images, p["ops"], p["magnitude"], p["sign"], aug.op_names, space, codes)
    const = device_path._constants(tuple(aug.op_names), space, images.device, *size, images.dtype, 0)
    computed = device_path._geometry(const, device_path._slot_params(const, space, p["ops"], p["magnitude"], p["sign"]))
    assert torch.equal(tabled, computed)


def test_draw_codes_refuses_off_bin_magnitudes_and_odd_signs():
    ops = torch.zeros(2, 2, dtype=torch.long)
    sign = torch.ones(2, 2)
    assert draw_codes(ops, torch.full((2, 2), 0.3), sign) is not None  # 9 / 30 in float32
    assert draw_codes(ops, torch.full((2, 2), 0.31), sign) is None
    assert draw_codes(ops, torch.full((2, 2), float("nan")), sign) is None
    assert draw_codes(ops, torch.full((2, 2), 0.3), torch.full((2, 2), 0.5)) is None


@pytest.mark.parametrize("name", ["rand_augment", "trivial_augment"])
@pytest.mark.parametrize("integer_bins", [True, False])
@pytest.mark.parametrize("batch,slots", [(1, 1), (7, 2), (64, 3)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_fast_paths_equal_op_by_op(name, integer_bins, batch, slots, dtype):
    kwargs = {"num_ops": slots} if name == "rand_augment" else {}
    if dtype != torch.uint8 and batch == 7:
        kwargs["interpolation"] = "bilinear"
    aug = ep.create_augmentation(name, **kwargs)
    slots = slots if name == "rand_augment" else 1
    x = torch.randint(0, 256, (batch, 3, 19, 21), generator=torch.Generator().manual_seed(batch), dtype=torch.uint8)
    x = x if dtype == torch.uint8 else (x.to(dtype) / 255).to(dtype)
    p = _draws(aug, batch, slots, seed=batch + slots, integer_bins=integer_bins)
    fast, _ = aug(x, params=p)
    reference = aug._apply_op_by_op(x, p["ops"], p["magnitude"], p["sign"])
    assert torch.equal(fast, reference)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_no_ops_returns_a_copy(dtype):
    aug = ep.create_augmentation("rand_augment", num_ops=0)
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8).to(dtype)
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, y) and y.data_ptr() != x.data_ptr()


def test_replayed_magnitudes_are_checked_once_for_every_slot():
    aug = ep.create_augmentation("rand_augment")
    rotate = aug.op_names.index("rotate")
    x = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    params = {"ops": torch.full((2, 2), rotate), "magnitude": torch.full((2, 2), 1.5), "sign": torch.ones(2, 2)}
    with pytest.raises(ValueError, match="magnitude"):
        aug(x, params=params)
    params = {"ops": torch.full((2, 2), rotate), "magnitude": torch.full((2, 2), 0.5), "sign": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match="sign"):
        aug(x, params=params)


def test_point_tables_follow_the_op_set_and_channels():
    aug = ep.create_augmentation("rand_augment", ops=["solarize", "posterize", "rotate"])
    for channels in (1, 3):
        x = torch.randint(0, 256, (9, channels, 12, 12), dtype=torch.uint8)
        p = _draws(aug, 9, 2, seed=channels)
        y, _ = aug(x, params=p)
        assert torch.equal(y, aug._apply_op_by_op(x, p["ops"], p["magnitude"], p["sign"]))


@pytest.mark.parametrize(
    "ops,slots",
    [(None, 7), (["rotate", "shear_x", "translate_y"], 2), (["rotate", "solarize"], 3), (None, 1)],
)
def test_cached_warps_equal_the_computed_path(monkeypatch, ops, slots):
    from effl_plugins.augment.auto import rand_augment

    monkeypatch.setattr(rand_augment, "_PLAN_INDICES", 20 * 19 * 21)  # 20 chains: the cache starts again often
    aug = ep.create_augmentation("rand_augment", num_ops=slots, ops=ops)
    for seed in range(6):
        x = torch.randint(0, 256, (12, 3, 19, 21), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
        p = _draws(aug, 12, slots, seed=seed)
        fast, _ = aug(x, params=p)
        assert torch.equal(fast, aug._apply_op_by_op(x, p["ops"], p["magnitude"], p["sign"]))
    plans = aug.__dict__.get("_warp_plans", {})
    assert slots > rand_augment._PLAN_SLOTS or any(plan.rows for plan in plans.values())


def test_cached_warps_follow_the_image_size():
    aug = ep.create_augmentation("trivial_augment")
    for size in ((16, 16), (9, 13), (16, 16)):
        x = torch.randint(0, 256, (40, 3, *size), generator=torch.Generator().manual_seed(size[1]), dtype=torch.uint8)
        p = _draws(aug, 40, 1, seed=size[0])
        fast, _ = aug(x, params=p)
        assert torch.equal(fast, aug._apply_op_by_op(x, p["ops"], p["magnitude"], p["sign"]))


def test_replayed_draws_changed_in_place_are_checked_again():
    aug = ep.create_augmentation("rand_augment")
    x = torch.randint(0, 256, (6, 3, 10, 10), dtype=torch.uint8)
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    replayed, _ = aug(x, params=aug.last_params)  # the same tensors, unchanged: the same output
    assert torch.equal(y, replayed)
    params = aug.last_params
    params["magnitude"][0, 0] = 0.5  # off RandAugment's M = 9, still a valid magnitude
    changed, _ = aug(x, params=params)
    assert torch.equal(changed, aug._apply_op_by_op(x, params["ops"], params["magnitude"], params["sign"]))
    params["magnitude"][0, 0] = 2.0
    with pytest.raises(ValueError, match="magnitude"):
        aug(x, params=params)


@pytest.mark.parametrize("batch,slots", [(1, 1), (8, 2), (21, 3)])
def test_listed_groups_equal_the_sorted_groups(monkeypatch, batch, slots):
    from effl_plugins.augment.auto import rand_augment

    aug = ep.create_augmentation("rand_augment", num_ops=slots)
    ops = _draws(aug, batch, slots, seed=batch)["ops"]
    listed = aug._groups(ops)
    monkeypatch.setattr(rand_augment, "_LISTED_DRAWS", 0)
    tensors = aug._groups(ops)
    assert [[k for k, _ in slot] for slot in listed] == [[k for k, _ in slot] for slot in tensors]
    for slot_listed, slot_tensors in zip(listed, tensors):
        for (_, a), (_, b) in zip(slot_listed, slot_tensors):
            assert a.dtype == b.dtype == torch.int64 and torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_listed_warp_lookup_equals_the_tensor_lookup(monkeypatch, dtype):
    from effl_plugins.augment.auto import rand_augment

    monkeypatch.setattr(rand_augment, "_PLAN_INDICES", 20 * 19 * 21)  # 20 chains: the cache starts again often
    aug = ep.create_augmentation("rand_augment", num_ops=2)
    listed_used = 0
    for seed in range(12):
        x = torch.randint(0, 256, (6, 3, 19, 21), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
        x = (x.to(dtype) / 255).to(dtype)
        p = _draws(aug, 6, 2, seed=seed % 4)  # draws seen before: the listed lookup serves them
        codes = draw_codes(p["ops"], p["magnitude"], p["sign"])
        plan, step_table = aug._plan(x)
        before = plan._lookup_listed(codes.tolist())
        fast, _ = aug(x, params=p)
        assert torch.equal(fast, aug._apply_op_by_op(x, p["ops"], p["magnitude"], p["sign"]))
        with monkeypatch.context() as m:
            m.setattr(rand_augment, "_LISTED_DRAWS", 0)
            where, warped = plan.lookup(step_table, codes)
        listed = plan._lookup_listed(codes.tolist())
        if listed is not None:
            listed_used += before is not None
            assert torch.equal(listed[0], where) and torch.equal(listed[1], warped)
    assert listed_used > 0


@pytest.mark.parametrize("batch, dtype", [(6, torch.uint8), (48, torch.uint8), (6, torch.float32)])
def test_one_augmentation_called_from_several_threads_gives_each_call_its_own_result(monkeypatch, batch, dtype):
    """Threads share one module's warp cache (a thread-pool loader, say): each call, whichever thread makes it and
    whatever the others add to or clear from the cache meanwhile, equals the op-by-op reference. The cache is
    small here so that threads fill it and start it again while others read it."""
    import threading

    from effl_plugins.augment.auto import rand_augment

    monkeypatch.setattr(rand_augment, "_PLAN_INDICES", 24 * 19 * 21)  # 24 chains
    aug = ep.create_augmentation("rand_augment", num_ops=2, ops=["rotate", "shear_x", "translate_y", "solarize"])
    cases = []
    for seed in range(24):
        x = torch.randint(0, 256, (batch, 3, 19, 21), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
        x = x if dtype == torch.uint8 else x.to(dtype) / 255
        p = _draws(aug, batch, 2, seed=seed)
        cases.append((x, p, aug._apply_op_by_op(x, p["ops"], p["magnitude"], p["sign"])))
    failures, start = [], threading.Barrier(4)

    def worker(offset: int) -> None:
        start.wait()
        try:
            for round_ in range(6):
                x, p, expected = cases[(offset * 5 + round_ * 7) % len(cases)]
                if not torch.equal(aug(x, params=p)[0], expected):
                    failures.append(("differs", offset, round_))
        except Exception as exc:  # a worker's error is the test's failure
            failures.append((type(exc).__name__, str(exc)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
