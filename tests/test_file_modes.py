"""One rule for every file the project writes: mode 0o666 & ~umask, as open() gives."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch

from effl_plugins.commands.augment import write_png
from effl_plugins.train.checkpoints import atomic_save, atomic_write_text


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o007])
def test_checkpoints_text_and_pictures_get_the_users_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_save({"model": {"w": torch.ones(1)}, "epoch": 0}, tmp_path / "checkpoint.pt")
        atomic_write_text(tmp_path / "summary.json", json.dumps({}))
        write_png(tmp_path / "grid.png", np.zeros((4, 4, 3), np.uint8))
        with open(tmp_path / "plain.txt", "w") as handle:  # what open() gives: the reference
            handle.write("x")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)
