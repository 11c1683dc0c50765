"""Config files and ``k=v`` values from someone else: bounded before anything is built from them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from effl_plugins.config_file import MAX_CONFIG_BYTES, load_config
from effl_plugins.kv import MAX_PAIR_CHARS, check_bounded, parse_kv


def billion_laughs(key: str) -> str:
    """A ~450-byte YAML file whose ``key`` expands, through nested aliases, to 9**9 (387 million) strings."""
    lines = [f"{key}:", '  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def effl(*argv: str, cwd=None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "effl_plugins.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def one_line_refusal(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_billion_laughs_under_strategy_arg_is_refused_at_once(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs("strategy-arg"))
    assert bomb.stat().st_size < 500
    proc = effl("finetune", "-c", str(bomb), "--out", str(tmp_path / "run"), timeout=30)
    line = one_line_refusal(proc)
    assert str(bomb) in line and "'strategy-arg'" in line and "10000 values" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", ["strategy-arg", "mean", "aug", "model"])
def test_every_key_is_bounded_in_the_library(tmp_path, key):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs(key))
    with pytest.raises(ValueError, match=rf"bomb.yaml' key '{key}' expands to more than 10000 values"):
        load_config(str(bomb))


def test_depth_and_text_are_bounded(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("strategy-arg: " + "[" * 30 + "]" * 30 + "\n")
    with pytest.raises(ValueError, match=r"deep.yaml' key 'strategy-arg' is nested deeper than 20 levels"):
        load_config(str(deep))
    wide = tmp_path / "wide.yaml"
    wide.write_text("strategy-arg: &s " + "x" * 100_000 + "\nmean: [*s, *s, *s]\n")
    with pytest.raises(ValueError, match=r"wide.yaml' key 'mean' holds more than \d+ characters"):
        load_config(str(wide))


def test_a_config_file_too_large_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_CONFIG_BYTES + b"\n")
    with pytest.raises(ValueError, match=rf"big.yaml' has {MAX_CONFIG_BYTES + 3} bytes; a config file has at most"):
        load_config(str(big))


def test_ordinary_configs_still_load(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("lr: 1.0e-3\nmean: [0.5, 0.5, 0.5]\nstrategy-arg: {threshold: 0.95, keep: &k [1, 2]}\naug: [*k]\n")
    assert load_config(str(good))["strategy-arg"] == {"threshold": 0.95, "keep": [1, 2]}


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_or_a_symlink_to_one_is_named_not_missing(tmp_path):
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    for path in ("/dev/zero", str(link)):
        line = one_line_refusal(effl("finetune", "-c", path, timeout=30))
        assert f"{path!r} is a character device, not a regular file" in line
    with pytest.raises(ValueError, match="is a directory, not a regular file"):
        load_config(str(tmp_path))
    with pytest.raises(ValueError, match="no such file"):
        load_config(str(tmp_path / "missing.yaml"))


def test_kv_pairs_and_values_are_bounded():
    with pytest.raises(ValueError, match=rf"--strategy-arg expects KEY=VALUE of at most {MAX_PAIR_CHARS} characters"):
        parse_kv(["k=" + "1" * MAX_PAIR_CHARS], option="--strategy-arg")
    shared = ["lol"] * 10
    for _ in range(8):
        shared = [shared] * 10
    with pytest.raises(ValueError, match="x expands to more than 10000 values"):
        check_bounded(shared, what="x")
    assert check_bounded({"a": [1, 2], "b": "cd"}, what="x") == (7, 6)
