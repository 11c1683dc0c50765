"""Scale on paper: the gradient bytes DDP all-reduces and a ring's traffic per rank; the digit folder."""

from __future__ import annotations

from effl_plugins.bench import scaling


def test_gradient_bytes_are_four_bytes_a_trainable_parameter():
    assert scaling.gradient_bytes("resnet50") == 4 * 25_557_032  # timm's resnet50: 25.56 M parameters


def test_a_ring_all_reduce_sends_two_n_minus_one_over_n_of_the_gradients_per_rank():
    rows = {row["model"]: row for row in scaling.traffic()}
    vit = rows["vit_base_patch16_224"]
    size = vit["gradient_bytes"]
    assert vit["ring_bytes_sent_per_rank"] == {"2": size, "8": round(1.75 * size), "64": round(126 / 64 * size)}


def test_the_digit_folder_holds_the_asked_images_in_class_folders(tmp_path):
    scaling.write_digit_folder(tmp_path, 30)
    train = sorted(tmp_path.glob("train/*/*.png"))
    assert len(train) == 30 and len(list(tmp_path.glob("val/*/*.png"))) == 10
    assert {p.parent.name for p in train} == {str(d) for d in range(10)}
