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
    for case in ("augmentations/example_gaussian_noise/batch", "augmentations/example_gaussian_noise/image",
                 "losses/example_cosine"):
        assert f"tests/test_conformance.py::test_conformance[{case}] PASSED" in result.stdout, result.stdout[-3000:]
    assert "tests/test_noise.py::test_noise_differs_per_sample" in result.stdout
