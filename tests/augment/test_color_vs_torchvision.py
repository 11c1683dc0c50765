"""The colour ops equal torchvision.transforms.v2.functional for the same parameter, sample by sample."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF

import effl_plugins as ep
from effl_plugins.augment.functional.enhance import luma
from effl_plugins.testing import sample_batch


def _images(channels: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    noise = torch.randint(0, 256, (6, channels, 19, 23), dtype=torch.uint8, generator=g)
    narrow = torch.randint(
        90, 150, (2, channels, 19, 23), dtype=torch.uint8, generator=g
    )  # equalize/auto_contrast stretch it
    flat = torch.full((1, channels, 19, 23), 77, dtype=torch.uint8)  # constant: equalize/auto_contrast keep it
    structured = sample_batch(torch.uint8, batch=3, size=24, seed=2)[:, :channels, 2:21, :23]
    return torch.cat([noise, narrow, flat, structured])


def _cases(batch: int, channels: int):
    g = torch.Generator().manual_seed(11)
    factor = torch.rand(batch, generator=g) * 1.9
    bits = torch.randint(1, 9, (batch,), generator=g)
    threshold = torch.rand(batch, generator=g)
    on = torch.ones(batch, dtype=torch.bool)
    return [
        (
            "brightness",
            {"factor": factor[:, None].expand(batch, channels)},
            lambda x, i: TF.adjust_brightness(x, float(factor[i])),
        ),
        ("contrast", {"factor": factor}, lambda x, i: TF.adjust_contrast(x, float(factor[i]))),
        ("color", {"factor": factor}, lambda x, i: TF.adjust_saturation(x, float(factor[i]))),
        ("sharpness", {"factor": factor}, lambda x, i: TF.adjust_sharpness(x, float(factor[i]))),
        ("posterize", {"bits": bits}, lambda x, i: TF.posterize(x, int(bits[i]))),
        (
            "solarize",
            {"threshold": threshold, "applied": on},
            lambda x, i: TF.solarize(x, float(threshold[i]) * (255 if x.dtype == torch.uint8 else 1)),
        ),
        ("invert", {"applied": on}, lambda x, i: TF.invert(x)),
        ("equalize", {"applied": on}, lambda x, i: TF.equalize(x)),
        ("auto_contrast", {"applied": on}, lambda x, i: TF.autocontrast(x)),
    ]


NAMES = [name for name, _, _ in _cases(1, 3)]


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("index", range(len(NAMES)), ids=NAMES)
def test_uint8_exact(index, channels):
    """Bit-exact on uint8. For color and contrast this holds because these images contain none of the
    3 RGB triples whose luma torchvision's float32 arithmetic floors one below the exact value
    (checked below, and covered by test_luma_triples_where_torchvision_rounds_down)."""
    images = _images(channels)
    name, params, reference = _cases(len(images), channels)[index]
    if channels == 3:
        r, g, b = images.float().unbind(1)
        assert torch.equal(luma(images)[:, 0], r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).floor_())
    out, _ = ep.create_augmentation(name)(images, params=params)
    expected = torch.stack([reference(images[i], i) for i in range(len(images))])
    assert torch.equal(out, expected), f"{name}: {(out.int() - expected.int()).abs().max()} max difference"


@pytest.mark.parametrize("index", range(len(NAMES)), ids=NAMES)
def test_float_close(index):
    images = _images(3)
    floats = images.float() / 255
    name, params, reference = _cases(len(images), 3)[index]
    if name == "posterize":  # bits = 8 leaves float images unchanged here; torchvision quantizes them to 1/256 steps
        params = {"bits": params["bits"].clamp(max=7)}

        def reference(x, i, bits=params["bits"]):
            return TF.posterize(x, int(bits[i]))

    out, _ = ep.create_augmentation(name)(floats, params=params)
    expected = torch.stack([reference(floats[i], i) for i in range(len(images))])
    torch.testing.assert_close(out, expected, atol=2e-6, rtol=0)


def test_luma_triples_where_torchvision_rounds_down():
    """The exact floor of 0.2989 R + 0.587 G + 0.114 B is an integer at these triples; torchvision's float32
    sum lands just below it. Our integer luma is exact (and identical on every device), so color can differ
    from torchvision by 1 there, never more."""
    triples = torch.tensor([[250, 9, 228], [250, 13, 146], [250, 47, 199]], dtype=torch.uint8)
    images = triples.T.reshape(1, 3, 1, 3).expand(4, 3, 1, 3).contiguous()
    assert luma(images)[0, 0, 0].tolist() == [106.0, 99.0, 125.0]
    factor = torch.tensor([0.0, 0.5, 1.5, 1.0])
    out, _ = ep.create_augmentation("color")(images, params={"factor": factor})
    expected = torch.stack([TF.adjust_saturation(images[i], float(factor[i])) for i in range(4)])
    assert (out.int() - expected.int()).abs().max() == 1
    assert torch.equal(out[0, 0, 0], torch.tensor([106, 99, 125], dtype=torch.uint8))  # factor 0: the exact grey
