"""Images from others: every decode goes through the declared-size check, unreadable files are
skipped and reported, and a classification dataset needs two classes."""

from __future__ import annotations

import numpy as np
import pytest

from effl_plugins.data import DataConfig, ImageDecodeError, build_data, unlabeled_folder
from effl_plugins.data.decode import read_image_file, verify_image
from tests.data.helpers import image_folder, png_header_only, random_image, write_image

CFG = DataConfig((3, 32, 32), "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1.0)


def truncated_jpeg(path, seed: int = 0) -> None:
    write_image(path, random_image(np.random.default_rng(seed), 48, 48))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header is intact, half the scan is gone


def test_read_image_file_refuses_a_huge_declared_size_before_decoding(tmp_path, monkeypatch):
    import cv2

    png_header_only(tmp_path / "huge.png", 20000, 20000)
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded a file whose header is over the limit"))
    with pytest.raises(ImageDecodeError, match=r"huge.png.*declares 20000x20000 = 400000000 pixels, over"):
        read_image_file(tmp_path / "huge.png")


def test_an_unlabeled_folder_skips_a_60000_square_header_with_the_reason(tmp_path):
    image_folder(tmp_path, splits=("u",), per_class=(2, 1))
    png_header_only(tmp_path / "u" / "huge.png", 60000, 60000)
    dataset = unlabeled_folder(tmp_path / "u", lambda img: img)
    assert len(dataset) == 3 and "huge.png" not in dataset.ids
    [(path, reason)] = dataset.skipped
    assert path.endswith("huge.png")
    assert reason == "declares 60000x60000 = 3600000000 pixels, over max_image_pixels=89478485"


def test_verify_image_finds_a_truncated_jpeg_whose_header_reads(tmp_path):
    from effl_plugins.data import declared_size

    truncated_jpeg(tmp_path / "cut.jpg")
    assert declared_size(tmp_path / "cut.jpg") == (48, 48)  # the listing's header check passes it
    assert verify_image(tmp_path / "cut.jpg") == "not an image OpenCV can decode (corrupt or truncated)"
    write_image(tmp_path / "good.jpg", random_image(np.random.default_rng(1), 48, 48))
    assert verify_image(tmp_path / "good.jpg") is None


def test_unlabeled_folder_verify_skips_a_truncated_jpeg(tmp_path):
    image_folder(tmp_path, splits=("u",), per_class=(2, 2), suffix=".jpg")
    truncated_jpeg(tmp_path / "u" / "dog" / "9.jpg")
    plain = unlabeled_folder(tmp_path / "u", lambda img: img)
    assert "dog/9.jpg" in plain.ids  # the header is fine: only a decode finds it
    checked = unlabeled_folder(tmp_path / "u", lambda img: img, verify=True, workers=2)
    assert checked.ids == ["cat/0.jpg", "cat/1.jpg", "dog/0.jpg", "dog/1.jpg"]
    assert [(p.split("/u/")[1], r) for p, r in checked.skipped] == [
        ("dog/9.jpg", "not an image OpenCV can decode (corrupt or truncated)")
    ]
    for i in range(len(checked)):
        checked[i]


def test_a_file_swapped_after_listing_is_checked_again_at_load(tmp_path):
    image_folder(tmp_path, splits=("u",), per_class=(2, 1))
    dataset = unlabeled_folder(tmp_path / "u", lambda img: img)
    png_header_only(tmp_path / "u" / "cat" / "1.png", 20000, 20000)
    with pytest.raises(ImageDecodeError, match=r"cat/1.png.*declares 20000x20000"):
        dataset[1]


@pytest.mark.parametrize("tar", [False, True])
def test_a_one_class_dataset_is_refused_before_any_work(tmp_path, tar):
    image_folder(tmp_path, classes=("only",), per_class=(4,))
    root = tmp_path
    if tar:
        from tests.data.helpers import tar_splits

        tar_splits(tmp_path, tmp_path / "tars")
        root = tmp_path / "tars"
    split = root / ("train.tar" if tar else "train")
    with pytest.raises(ValueError) as info:
        build_data(str(root), CFG)
    assert str(info.value) == (
        f"--data split {str(split)!r} has 1 class ('only'); classification needs at least 2 class folders "
        "(<split>/<class>/<images>)"
    )
