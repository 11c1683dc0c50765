"""The example plugin's own test suite (its one-line conformance suite and its op's tests) passes
when run the way a plugin author runs it: pytest in the plugin's directory, outside this project's tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "registry" / "effl-plugins-example"


def test_example_plugin_suite_passes():
    # its strategies are checked by this project's own conformance suite; here the rest, in a child pytest
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests", "-k", "not strategies"]
    result = subprocess.run(command, cwd=EXAMPLE, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for case in (
        "augmentations/example_gaussian_noise/batch",
        "augmentations/example_gaussian_noise/image",
        "losses/example_cosine",
    ):
        assert f"tests/test_conformance.py::test_conformance[{case}] PASSED" in result.stdout, result.stdout[-3000:]
    assert "tests/test_noise.py::test_noise_differs_per_sample" in result.stdout


def test_the_tutorials_imports_resolve():
    import effl_plugins.augment as augment
    import effl_plugins.augment.base as augment_base
    from effl_plugins.losses import DistillationLoss
    from effl_plugins.losses.base import as_float, check_non_negative, cross_entropy  # noqa: F401
    from effl_plugins.strategies import Strategy  # noqa: F401
    from effl_plugins.testing import (  # noqa: F401
        STRATEGY_CHECK_DEFAULTS,
        check_augmentation,
        check_image_augmentation,
        check_loss,
        check_strategy,
        conformance_suite,
        conformance_tests,
    )
    from effl_plugins.train import Batch, Task  # noqa: F401

    for name in ("uniform", "bernoulli", "dtype_max", "BatchAugmentation", "ImageAugmentation"):
        assert getattr(augment, name) is getattr(augment_base, name), name  # the old path keeps working
    from effl_plugins_example.cosine import CosineLogitLoss

    assert issubclass(CosineLogitLoss, DistillationLoss)
