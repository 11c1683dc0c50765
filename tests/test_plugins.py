"""Discovery through entry points: provenance, isolation of broken plugins, strict mode, selection."""

from __future__ import annotations

import os
import signal
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
    example = [
        ("augmentations", "example_gaussian_noise"),
        ("losses", "example_cosine"),
        ("strategies", "example_nearest_centroid"),
        ("strategies", "example_entropy_min"),
    ]
    for family, name in example:
        info = ep.component_info(family, name)
        assert info["distribution"] == "effl-plugins-example"
        assert info["plugin"] == "effl-plugins-example:example"
    assert ep.create_loss("example_cosine", ce_weight=0.1).ce_weight == 0.1
    assert ep.component_info("augmentations", "example_gaussian_noise")["backends"] == ["batch", "image"]


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
    second = plugin_module("second", register_losses=_losses(["shared_name", "kd", "second_only"]))
    fake_distributions("b-second", main=second)
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
    assert names == sorted(names) and "two_loss" not in names and "example_cosine" not in names and "kd" in names


def test_builtins_load_before_other_distributions(fake_distributions):
    early = plugin_module("early", register_augmentations=lambda r: r("brightness", dict))
    fake_distributions("aaaa-early", main=early)
    with pytest.warns(ep.EfflWarning, match="aaaa-early"):
        info = ep.component_info("augmentations", "brightness")
    assert info["distribution"] == "effl-plugins"


def test_import_is_light():
    code = "import sys, effl_plugins as ep; ep.hookimpl; print(any(m in sys.modules for m in ('torch', 'timm', 'cv2')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "source, shown",
    [
        ("import sys; sys.exit(3)", "SystemExit: 3"),
        ("import sys; sys.exit('bye')", "SystemExit: bye"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("raise GeneratorExit('odd')", "GeneratorExit: odd"),
    ],
)
def test_a_plugin_that_exits_at_import_is_a_warning_naming_its_distribution(fake_distributions, source, shown):
    fake_distributions("aaa-exits", main=source)
    fake_distributions("zzz-good", main=plugin_module("good", register_losses=_losses(["good_loss"])))
    with pytest.warns(ep.EfflWarning, match=rf"distribution 'aaa-exits' failed to load: {shown}"):
        names = ep.list_losses()
    assert "good_loss" in names and "kd" in names


def test_a_hook_that_exits_is_isolated_and_strict_mode_raises(fake_distributions, monkeypatch):
    def leave(register):
        register("never_kept", dict)
        sys.exit(0)

    fake_distributions("exits-in-hook", main=plugin_module("leaves", register_losses=leave))
    with pytest.warns(ep.EfflWarning, match="exits-in-hook.*SystemExit: 0"):
        assert "never_kept" not in ep.list_losses()
    monkeypatch.setenv("EFFL_STRICT_PLUGINS", "1")
    ep.plugins.reset_manager()
    with pytest.raises(ep.PluginLoadError) as info:
        ep.list_losses()
    assert isinstance(info.value.cause, SystemExit) and info.value.distribution == "exits-in-hook"


def test_a_real_ctrl_c_while_a_plugin_loads_is_re_raised(fake_distributions):
    interrupted = "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)"
    fake_distributions("slow-plugin", main=interrupted)
    # Python's own Ctrl-C handler, whatever code run earlier in this process installed
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupted_while_loading()
    finally:
        signal.signal(signal.SIGINT, outer)


def _interrupted_while_loading() -> None:
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        ep.list_losses()
    assert signal.getsignal(signal.SIGINT) is handler, "the SIGINT handler is restored"


def test_a_misspelled_hook_warns_and_strict_mode_refuses(fake_distributions, monkeypatch):
    fake_distributions("typo-dist", main=plugin_module("typo", register_loss=_losses(["typo_loss"])))
    with pytest.warns(
        ep.EfflWarning,
        match=r"'typo-dist': hook implementation 'register_loss' matches no effl_plugins "
        r"hook; did you mean 'register_losses'\?",
    ):
        assert "typo_loss" not in ep.list_losses()
    with pytest.warns(
        ep.EfflWarning,
        match=r"\(hooks: register_augmentations, register_commands, register_losses, "
        r"register_strategies\)",
    ):
        ep.plugins.reset_manager()
        ep.list_losses()
    [info] = [p for p in ep.plugin_info() if p.distribution == "typo-dist"]
    assert "register_loss" in info.error and info.hooks == []
    monkeypatch.setenv("EFFL_STRICT_PLUGINS", "1")
    ep.plugins.reset_manager()
    with pytest.raises(ep.PluginLoadError, match="typo-dist.*'register_loss' matches no effl_plugins hook"):
        ep.list_losses()


def test_registering_a_plugin_with_a_misspelled_hook_at_run_time_raises(fresh_plugins):
    module = plugin_module("typo_now", register_augmentation=lambda register: None)
    with pytest.raises(ep.PluginLoadError, match="'register_augmentation' matches no effl_plugins hook"):
        ep.register_plugin(module, "typo_now")
    assert "typo_now" not in [p.name for p in ep.plugin_info()]


@pytest.mark.parametrize(
    "create, family",
    [
        (lambda: ep.create_loss("kdd"), "loss"),
        (lambda: ep.create_strategy("fixmatchh"), "strategy"),
        (lambda: ep.create_augmentation("rotat"), "augmentation"),
    ],
)
def test_unknown_names_are_reported_with_the_family_in_the_singular(create, family):
    with pytest.raises(ep.UnknownComponentError, match=rf"^unknown {family} '"):
        create()


def test_effl_list_and_plugins_survive_a_plugin_that_exits(fake_distributions, capsys):
    from effl_plugins.cli import main

    fake_distributions("aaa-exits", main="import sys; sys.exit(1)")
    with pytest.warns(ep.EfflWarning, match="aaa-exits"):
        assert main(["list", "losses"]) == 0
    assert "kd" in capsys.readouterr().out
    assert main(["plugins"]) == 0
    assert "error: SystemExit: 1" in capsys.readouterr().out


def test_effl_list_into_a_closed_pipe_ends_quietly():
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "effl_plugins.cli", "list"], stdout=write, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write)
    assert proc.stderr.decode() == "" and proc.returncode == 141


def test_a_keyboard_interrupt_raised_by_a_plugin_in_another_thread_is_its_failure(fake_distributions):
    import threading
    import warnings

    fake_distributions("thread-exits", main="raise KeyboardInterrupt")
    caught, names = [], []

    def load():
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            names.extend(ep.list_losses())
        caught.extend(str(w.message) for w in seen)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join(60)
    assert "kd" in names and any("thread-exits" in m and "KeyboardInterrupt" in m for m in caught)
