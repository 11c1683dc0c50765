"""Factories registered as import strings: listed without importing, built on first use, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import effl_plugins as ep

from .conftest import plugin_module

_MODULE = '''
"""A module that counts how often it is imported."""
import builtins

builtins.LAZY_IMPORTS = getattr(builtins, "LAZY_IMPORTS", 0) + 1
NOT_CALLABLE = 3


class LazyLoss:
    """A loss that is imported late.

    The rest of its story.
    """

    def __init__(self, scale=1.0):
        self.scale = scale
'''


@pytest.fixture
def lazy_module(tmp_path, monkeypatch):
    """The name of a fresh importable module that records its imports in ``builtins.LAZY_IMPORTS``."""
    import builtins

    name = f"_lazy_target_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(builtins, "LAZY_IMPORTS", 0, raising=False)
    yield name
    sys.modules.pop(name, None)


def _register(plugin_name: str, **hooks) -> str:
    return ep.register_plugin(plugin_module(plugin_name, **hooks), plugin_name)


def test_listing_and_summary_import_nothing_building_imports_once(lazy_module):
    import builtins

    _register("lazy", register_losses=lambda r: r("lazy_loss", f"{lazy_module}:LazyLoss"))
    try:
        assert ep.list_losses("lazy_*") == ["lazy_loss"]
        info = ep.component_info("losses", "lazy_loss")
        assert info["summary"] == "A loss that is imported late."
        assert info["doc"].endswith("The rest of its story.")
        assert info["factory"] == f"{lazy_module}.LazyLoss"
        assert builtins.LAZY_IMPORTS == 0 and lazy_module not in sys.modules
        assert ep.create_loss("lazy_loss", scale=2.0).scale == 2.0
        assert ep.create_loss("lazy_loss").scale == 1.0
        assert builtins.LAZY_IMPORTS == 1
    finally:
        ep.unregister_plugin("lazy")


def test_augmentation_backends_as_import_strings(lazy_module):
    target = f"{lazy_module}:LazyLoss"
    _register("lazy_aug", register_augmentations=lambda r: r("lazy_op", batch=target, image=target))
    try:
        assert ep.list_augmentations("lazy_op", backend="image") == ["lazy_op"]
        assert ep.component_info("augmentations", "lazy_op")["backends"] == ["batch", "image"]
        assert ep.create_augmentation("lazy_op", backend="image", scale=3).scale == 3
    finally:
        ep.unregister_plugin("lazy_aug")


def test_a_string_and_a_class_under_one_name_are_duplicates(lazy_module):
    _register("first", register_losses=lambda r: r("lazy_twice", f"{lazy_module}:LazyLoss"))
    try:
        with pytest.raises(ep.DuplicateComponentError, match="'first'"):
            _register("second", register_losses=lambda r: r("lazy_twice", dict))
    finally:
        ep.unregister_plugin("first")


@pytest.mark.parametrize(
    "attr, cause, words",
    [
        ("nowhere_module_xyz:Thing", ImportError, "cannot import module 'nowhere_module_xyz'"),
        ("{module}:Missing", AttributeError, "has no attribute 'Missing'"),
        ("{module}:NOT_CALLABLE", TypeError, "names a int, not a class or function"),
    ],
)
def test_a_string_that_does_not_resolve_names_the_plugin_and_the_string(lazy_module, attr, cause, words):
    target = attr.format(module=lazy_module)
    _register("broken_lazy", register_losses=lambda r: r("lazy_broken", target))
    try:
        assert "lazy_broken" in ep.list_losses()
        with pytest.raises(ep.PluginLoadError) as info:
            ep.create_loss("lazy_broken")
        assert isinstance(info.value.cause, cause)
        message = str(info.value)
        assert "'broken_lazy'" in message and repr(target) in message and "loss 'lazy_broken'" in message
        assert words in message
    finally:
        ep.unregister_plugin("broken_lazy")


@pytest.mark.parametrize("target", ["no_colon", "pkg.mod:", ":Attr", "pkg..mod:Attr", "pkg.mod:Attr:More"])
def test_a_malformed_string_is_refused_when_registered(target):
    with pytest.raises(ep.PluginLoadError) as info:
        _register("malformed", register_losses=lambda r: r("lazy_malformed", target))
    assert isinstance(info.value.cause, ValueError)
    assert "package.module:Attr" in str(info.value) and repr(target) in str(info.value)


def _fresh_process(code: str) -> dict:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def test_listing_imports_no_loss_strategy_or_timm():
    found = _fresh_process(
        """
        import json, sys
        import effl_plugins as ep
        ep.list_losses(); ep.list_strategies(); ep.component_info("losses", "kd")
        print(json.dumps(sorted(sys.modules)))
        """
    )
    components = [m for m in found if m.startswith(("effl_plugins.losses.", "effl_plugins.strategies."))]
    assert sorted(components) == ["effl_plugins.losses.plugin", "effl_plugins.strategies.plugin"]
    assert "timm" not in found


def test_the_loss_and_strategy_plugins_import_no_torch():
    found = _fresh_process(
        """
        import importlib, json, sys
        from effl_plugins.plugins import PluginManager
        manager = PluginManager()
        manager._loaded = True  # no entry points: only the two plugins below
        for family in ("losses", "strategies"):
            manager.register(importlib.import_module(f"effl_plugins.{family}.plugin"), family)
        names = manager.registry("losses").list() + manager.registry("strategies").list()
        summaries = [c.summary for f in ("losses", "strategies") for c in manager.registry(f).components()]
        print(json.dumps({"names": names, "summaries": summaries, "torch": "torch" in sys.modules}))
        """
    )
    assert "kd" in found["names"] and "fixmatch" in found["names"]
    assert all(found["summaries"])
    assert found["torch"] is False
