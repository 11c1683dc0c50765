"""DataConfig and resolve_data_config: timm's values, precedence, validation."""

from __future__ import annotations

import json

import pytest
import timm
import timm.data

from effl_plugins.data import DataConfig, resolve_data_config


@pytest.mark.parametrize("arch", ["resnet10t", "test_vit", "test_efficientnet"])
def test_model_config_is_timms(arch):
    model = timm.create_model(arch, pretrained=False)
    expected = timm.data.resolve_data_config(model=model)
    cfg = resolve_data_config(model)
    assert cfg.input_size == tuple(expected["input_size"])
    assert cfg.interpolation == expected["interpolation"] and cfg.crop_pct == expected["crop_pct"]
    assert cfg.mean == pytest.approx(expected["mean"]) and cfg.std == pytest.approx(expected["std"])


def test_defaults_without_a_model_are_timms_imagenet_defaults():
    cfg = resolve_data_config()
    assert cfg == DataConfig(
        (3, 224, 224),
        "bicubic",
        timm.data.IMAGENET_DEFAULT_MEAN,
        timm.data.IMAGENET_DEFAULT_STD,
        timm.data.DEFAULT_CROP_PCT,
    )


def test_saved_wins_over_model_and_overrides_win_over_saved():
    model = timm.create_model("resnet10t", pretrained=False)  # 176 px train size, bicubic, crop_pct 0.95
    saved = {"input_size": [3, 64, 48], "interpolation": "bilinear", "crop_pct": 0.5}
    cfg = resolve_data_config(model, saved=saved)
    assert (cfg.input_size, cfg.interpolation, cfg.crop_pct) == ((3, 64, 48), "bilinear", 0.5)
    cfg = resolve_data_config(
        model, saved=saved, img_size=(40, 30), mean=0.5, std=[0.1, 0.2, 0.3], interpolation="nearest", crop_pct=1.0
    )
    assert cfg == DataConfig((3, 40, 30), "nearest", (0.5, 0.5, 0.5), (0.1, 0.2, 0.3), 1.0)
    assert resolve_data_config(img_size=96).input_size == (3, 96, 96)


def test_to_dict_is_json_and_timms_keys_and_round_trips():
    cfg = resolve_data_config(timm.create_model("test_vit", pretrained=False))
    d = json.loads(json.dumps(cfg.to_dict()))
    assert set(d) == {"input_size", "interpolation", "mean", "std", "crop_pct"}
    assert DataConfig.from_dict(d) == cfg
    timm.data.create_transform(**d, is_training=False)  # timm accepts the keys


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"img_size": 0}, r"--img-size must be 2 positive ints, got \(0, 0\)"),
        ({"img_size": (32, -1)}, r"--img-size .* got \(32, -1\)"),
        ({"img_size": (32, 32, 32)}, r"--img-size must be 2"),
        ({"mean": (0.5, 0.5)}, r"--mean must have 1 or 3 values .* got 2"),
        ({"std": (0.5, 0.0, 0.5)}, r"--std must hold finite values > 0"),
        ({"std": -1.0}, r"--std must hold finite values > 0, got -1.0"),
        ({"interpolation": "cubic"}, r"--interpolation must be one of nearest, bilinear, bicubic.* got 'cubic'"),
        ({"crop_pct": 0.0}, r"--crop-pct must be in \(0, 1\], got 0.0"),
        ({"crop_pct": 1.5}, r"--crop-pct must be in \(0, 1\], got 1.5"),
    ],
)
def test_bad_overrides_name_the_flag(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resolve_data_config(**kwargs)


def test_bad_types_and_dicts():
    with pytest.raises(TypeError, match="--img-size"):
        resolve_data_config(img_size="32")
    with pytest.raises(TypeError, match="--crop-pct"):
        resolve_data_config(crop_pct="0.9")
    with pytest.raises(TypeError, match="--mean"):
        resolve_data_config(mean="a")
    with pytest.raises(ValueError, match=r"lacks \['crop_pct'\]"):
        DataConfig.from_dict({"input_size": (3, 8, 8), "interpolation": "bilinear", "mean": [0.0], "std": [1.0]})
    with pytest.raises(ValueError, match="input_size must be 3 positive ints"):
        DataConfig((8, 8), "bilinear", (0.0,), (1.0,), 1.0)
