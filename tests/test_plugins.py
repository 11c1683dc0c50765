"""Discovery through entry points: provenance, isolation of broken plugins, strict mode, selection."""

from __future__ import annotations

import subprocess
import sys

import pytest

import effl_plugins as ep

from .conftest import plugin_module


def _losses(names):
    return lambda register: [register(n, dict) for n in names]


def test_example_distribution_is_discovered_with_provenance(fresh_plugins):
    assert "example_gaussian_noise" in ep.list_augmentations()
    assert "example_cosine" in ep.list_losses()
    assert "example_nearest_centroid" in ep.list_strategies()
    for family, name in [("augmentations", "example_gaussian_noise"), ("losses", "example_cosine"), ("strategies", "example_nearest_centroid")]:
        info = ep.component_info(family, name)
        assert info["distribution"] == "effl-plugins-example"
        assert info["plugin"] == "effl-plugins-example:example"
    assert ep.create_loss("example_cosine", ce_weight=0.1).ce_weight == 0.1


def test_broken_import_warns_naming_distribution_and_others_still_load(fake_distributions):
    fake_distributions("aaa-broken", main="raise RuntimeError('boom at import')")
    fake_distributions("zzz-good", main=plugin_module("good", register_losses=_losses(["good_loss"])))
    with pytest.warns(ep.EfflWarning, match=r"aaa-broken.*RuntimeError: boom at import"):
        names = ep.list_losses()
    assert "good_loss" in names and "kd" in names
    broken = [p for p in ep.plugin_info() if p.distribution == "aaa-broken"]
    assert broken and "boom at import" in broken[0].error


def test_failing_hook_is_isolated(fake_distributions):
    def explode(register):
        register("half_registered", dict)
        raise ValueError("hook failed")

    fake_distributions("bad-hook", main=plugin_module("bad", register_losses=explode))
    fake_distributions("other", main=plugin_module("other", register_losses=_losses(["other_loss"])))
    with pytest.warns(ep.EfflWarning, match="bad-hook.*hook failed"):
        names = ep.list_losses()
    assert "other_loss" in names
    assert "half_registered" not in names, "a plugin whose hook failed must register nothing"


def test_strict_mode_raises_plugin_load_error(fake_distributions, monkeypatch):
    fake_distributions("aaa-broken", main="import not_a_module_anywhere_12345")
    monkeypatch.setenv("EFFL_STRICT_PLUGINS", "1")
    with pytest.raises(ep.PluginLoadError) as info:
        ep.list_losses()
    assert info.value.distribution == "aaa-broken" and isinstance(info.value.cause, ImportError)
    monkeypatch.delenv("EFFL_STRICT_PLUGINS")
    with pytest.warns(ep.EfflWarning):
        assert "kd" in ep.list_losses()


def test_duplicate_from_distribution_warns_and_first_stands(fake_distributions):
    fake_distributions("a-first", main=plugin_module("first", register_losses=_losses(["shared_name"])))
    fake_distributions("b-second", main=plugin_module("second", register_losses=_losses(["shared_name", "kd", "second_only"])))
    with pytest.warns(ep.EfflWarning) as record:
        names = ep.list_losses()
    messages = " ".join(str(w.message) for w in record)
    assert "a-first" in messages and "b-second" in messages and "'effl-plugins'" in messages
    assert ep.component_info("losses", "shared_name")["distribution"] == "a-first"
    assert ep.component_info("losses", "kd")["distribution"] == "effl-plugins"
    assert "second_only" in names


def test_duplicate_in_strict_mode_raises(fake_distributions, monkeypatch):
    fake_distributions("dupe", main=plugin_module("dupe", register_losses=_losses(["kd"])))
    monkeypatch.setenv("EFFL_STRICT_PLUGINS", "1")
    with pytest.raises(ep.DuplicateComponentError, match="dupe"):
        ep.list_losses()


def test_load_plugins_env_selects_distributions(fake_distributions, monkeypatch):
    fake_distributions("one-dist", main=plugin_module("one", register_losses=_losses(["one_loss"])))
    fake_distributions("two-dist", main=plugin_module("two", register_losses=_losses(["two_loss"])))
    monkeypatch.setenv("EFFL_LOAD_PLUGINS", "two_dist")
    ep.reload_plugins()
    names = ep.list_losses()
    assert "two_loss" in names and "one_loss" not in names and "kd" in names
    monkeypatch.setenv("EFFL_LOAD_PLUGINS", "")
    ep.reload_plugins()
    names = ep.list_losses()
    assert names == sorted(n for n in names) and "two_loss" not in names and "example_cosine" not in names and "kd" in names


def test_builtins_load_before_other_distributions(fake_distributions):
    fake_distributions("aaaa-early", main=plugin_module("early", register_augmentations=lambda r: r("brightness", dict)))
    with pytest.warns(ep.EfflWarning, match="aaaa-early"):
        info = ep.component_info("augmentations", "brightness")
    assert info["distribution"] == "effl-plugins"


def test_import_is_light():
    code = "import sys, effl_plugins as ep; ep.hookimpl; print(any(m in sys.modules for m in ('torch', 'timm', 'cv2')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
