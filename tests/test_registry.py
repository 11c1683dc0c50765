"""The registry's rules: filters, errors, duplicates, provenance, bad register() calls."""

from __future__ import annotations

import pytest

import effl_plugins as ep
from effl_plugins._registry import Component, Registry

from .conftest import plugin_module


def _registry_with(*names_backends) -> Registry:
    registry = Registry("augmentations")
    for name, backend in names_backends:
        registry.add(Component("augmentations", name, dict, backend, "p", "d"))
    return registry


def test_list_is_sorted_and_fnmatch_filtered():
    registry = _registry_with(
        ("rotate", "batch"), ("brightness", "batch"), ("brightness", "image"), ("rand_augment", "batch")
    )
    assert registry.list() == ["brightness", "rand_augment", "rotate"]
    assert registry.list("r*") == ["rand_augment", "rotate"]
    assert registry.list(["b*", "rot*"]) == ["brightness", "rotate"]
    assert registry.list("*", exclude_filters="rand_*") == ["brightness", "rotate"]
    assert registry.list("*", exclude_filters=["rand_*", "b*"]) == ["rotate"]
    assert registry.list(backend="image") == ["brightness"]
    assert registry.list("[br]*", backend="batch") == ["brightness", "rand_augment", "rotate"]


def test_list_rejects_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        _registry_with().list(backend="gpu")
    with pytest.raises(ValueError, match="only meaningful for augmentations"):
        Registry("losses").list(backend="batch")


def test_public_listing_contains_builtins():
    assert "brightness" in ep.list_augmentations()
    assert "brightness" in ep.list_augmentations(backend="image")
    assert "kd" in ep.list_losses("k*")
    assert "kd" not in ep.list_losses("*", exclude_filters="k*")
    assert "linear_probe" in ep.list_strategies()


def test_unknown_name_is_keyerror_with_suggestions():
    with pytest.raises(ep.UnknownComponentError) as info:
        ep.create_loss("kdd")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ep.EfflError)
    assert "kd" in info.value.suggestions
    assert "did you mean 'kd'" in str(info.value)


def test_unknown_backend_names_existing_backends():
    module = plugin_module("batch_only", register_augmentations=lambda register: register("only_batch_op", dict))
    ep.register_plugin(module, "batch_only")
    try:
        with pytest.raises(ep.UnknownComponentError, match="backends: batch"):
            ep.create_augmentation("only_batch_op", backend="image")
    finally:
        ep.unregister_plugin("batch_only")


def test_component_info_reports_provenance():
    info = ep.component_info("losses", "kd")
    assert info["name"] == "kd" and info["family"] == "losses"
    assert info["distribution"] == "effl-plugins" and info["plugin"] == "losses"
    assert "Hinton" in info["doc"] and info["backends"] == []
    assert ep.component_info("augmentations", "brightness")["backends"] == ["batch", "image"]
    with pytest.raises(ValueError, match="family must be one of"):
        ep.component_info("loss", "kd")


def test_runtime_plugin_registers_and_unregisters():
    class Identity:
        """Does nothing."""

    module = plugin_module("mine", register_losses=lambda register: register("my_identity", Identity))
    name = ep.register_plugin(module, "mine")
    try:
        assert "my_identity" in ep.list_losses()
        assert isinstance(ep.create_loss("my_identity"), Identity)
        assert ep.component_info("losses", "my_identity")["plugin"] == "mine"
    finally:
        ep.unregister_plugin(name)
    assert "my_identity" not in ep.list_losses()


def test_duplicate_registration_names_both_plugins_and_keeps_first():
    module = plugin_module("dup", register_losses=lambda register: register("kd", dict))
    with pytest.raises(ep.DuplicateComponentError) as info:
        ep.register_plugin(module, "dup")
    message = str(info.value)
    assert "'losses'" in message and "'effl-plugins'" in message and "'dup'" in message
    assert ep.component_info("losses", "kd")["plugin"] == "losses"
    assert "dup" not in [p.name for p in ep.plugin_info()]


def test_same_name_other_backend_is_not_a_duplicate():
    module = plugin_module("img", register_augmentations=lambda r: r("only_in_test", dict, backend="image"))
    ep.register_plugin(module, "img")
    try:
        assert ep.list_augmentations("only_in_test", backend="image") == ["only_in_test"]
        assert ep.list_augmentations("only_in_test", backend="batch") == []
    finally:
        ep.unregister_plugin("img")


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda r: r("", dict), ValueError, "component name"),
        (lambda r: r("Bad Name", dict), ValueError, "'Bad Name'"),
        (lambda r: r(3, dict), ValueError, "component name"),
        (lambda r: r("not_callable", 42), TypeError, "must be callable"),
        (lambda r: r("bad_backend", dict, backend="gpu"), ValueError, "backend for 'bad_backend'"),
    ],
)
def test_bad_register_calls_raise_naming_the_plugin(call, error, words):
    module = plugin_module("badcall", register_augmentations=call)
    with pytest.raises(ep.PluginLoadError) as info:
        ep.register_plugin(module, "badcall")
    assert isinstance(info.value.cause, error)
    assert words in str(info.value) and "badcall" in str(info.value)
    assert "badcall" not in [p.name for p in ep.plugin_info()]


def test_backend_on_non_augmentation_is_rejected():
    module = plugin_module("lossbackend", register_losses=lambda r: r("x_loss", dict, backend="batch"))
    with pytest.raises(ep.PluginLoadError, match="losses take no backend"):
        ep.register_plugin(module, "lossbackend")


class _BatchOp:
    """A batch op."""


class _ImageOp:
    """An image op."""


def test_register_both_backends_in_one_call():
    module = plugin_module("both", register_augmentations=lambda r: r("both_op", batch=_BatchOp, image=_ImageOp))
    ep.register_plugin(module, "both")
    try:
        assert ep.component_info("augmentations", "both_op")["backends"] == ["batch", "image"]
        assert isinstance(ep.create_augmentation("both_op"), _BatchOp)
        assert isinstance(ep.create_augmentation("both_op", backend="image"), _ImageOp)
        info = next(p for p in ep.plugin_info() if p.name == "both")
        assert info.components == ["augmentations:both_op[batch]", "augmentations:both_op[image]"]
    finally:
        ep.unregister_plugin("both")


def test_register_one_backend_by_keyword():
    module = plugin_module("imgkw", register_augmentations=lambda r: r("image_kw_op", image=_ImageOp))
    ep.register_plugin(module, "imgkw")
    try:
        assert ep.list_augmentations("image_kw_op", backend="image") == ["image_kw_op"]
        assert ep.list_augmentations("image_kw_op", backend="batch") == []
    finally:
        ep.unregister_plugin("imgkw")


def test_register_per_backend_form_unchanged():
    def hook(r):
        r("per_backend_op", _BatchOp)  # batch by default
        r("per_backend_op", _ImageOp, backend="image")
        r("per_backend_op2", factory=_BatchOp, backend="batch")

    ep.register_plugin(plugin_module("perbackend", register_augmentations=hook), "perbackend")
    try:
        assert ep.component_info("augmentations", "per_backend_op")["backends"] == ["batch", "image"]
        assert ep.component_info("augmentations", "per_backend_op2")["backends"] == ["batch"]
    finally:
        ep.unregister_plugin("perbackend")


def test_register_both_backends_detects_duplicates():
    module = plugin_module("dupboth", register_augmentations=lambda r: r("brightness", batch=_BatchOp, image=_ImageOp))
    with pytest.raises(ep.DuplicateComponentError, match="brightness"):
        ep.register_plugin(module, "dupboth")
    assert ep.component_info("augmentations", "brightness")["plugin"] == "augment"
    assert "dupboth" not in [p.name for p in ep.plugin_info()]

    def twice(r):
        r("twice_op", _BatchOp)
        r("twice_op", batch=_BatchOp, image=_ImageOp)

    with pytest.raises(ep.DuplicateComponentError, match="twice_op"):
        ep.register_plugin(plugin_module("twice", register_augmentations=twice), "twice")
    assert "twice_op" not in ep.list_augmentations()


@pytest.mark.parametrize(
    "family, call, error, words",
    [
        ("augmentations", lambda r: r("no_factory"), TypeError, "needs a factory"),
        ("augmentations", lambda r: r("kw_bad", batch=_BatchOp, image=42), TypeError, "must be callable"),
        ("augmentations", lambda r: r("kw_both", _BatchOp, image=_ImageOp), ValueError, "ambiguous"),
        ("augmentations", lambda r: r("kw_backend", batch=_BatchOp, backend="image"), ValueError, "not both"),
        ("losses", lambda r: r("kw_loss", batch=dict), ValueError, "losses take no backend"),
        ("strategies", lambda r: r("no_factory"), TypeError, "needs a factory"),
    ],
)
def test_bad_keyword_register_calls_register_nothing(family, call, error, words):
    def hook(r):
        r("before_bad_call", dict, **({"backend": "batch"} if family == "augmentations" else {}))
        call(r)

    module = plugin_module("kwbad", **{f"register_{family}": hook})
    with pytest.raises(ep.PluginLoadError) as info:
        ep.register_plugin(module, "kwbad")
    assert isinstance(info.value.cause, error) and words in str(info.value) and "kwbad" in str(info.value)
    assert "before_bad_call" not in getattr(ep, f"list_{family}")()
