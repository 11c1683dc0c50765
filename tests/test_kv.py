"""The one ``k=v`` parser and the signature check behind every ``--*-arg`` option."""

from __future__ import annotations

import pytest

from effl_plugins.kv import check_kwargs, format_arguments, parse_kv, parse_value, signature_arguments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4", 4),
        ("0.5", 0.5),
        ("1e-3", 1e-3),
        ("-2", -2),
        ("False", False),
        ("True", True),
        ("None", None),
        ("false", False),
        ("true", True),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("(0.08, 1.0)", (0.08, 1.0)),
        ("{'a': 1}", {"a": 1}),
        ("'quoted'", "quoted"),
        ("soft", "soft"),
        ("rand-m9-n2", "rand-m9-n2"),
        ("a b", "a b"),
        ("", ""),
        ("[1, 2", "[1, 2"),
        ("__import__('os')", "__import__('os')"),
    ],
)
def test_parse_value(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_parse_kv_reads_every_pair_and_the_last_value_wins():
    parsed = parse_kv(["temperature=4", "alpha=0.5", "per_channel=False", "mode=soft", "alpha=0.25"], option="--x")
    assert parsed == {"temperature": 4, "alpha": 0.25, "per_channel": False, "mode": "soft"}
    assert parse_kv(["expr=a=b"], option="--x") == {"expr": "a=b"}  # only the first '=' splits
    assert parse_kv([], option="--x") == {}


@pytest.mark.parametrize("bad", ["novalue", "=3", "1x=3", "a-b=3", "a b=1"])
def test_parse_kv_names_the_option_and_the_pair(bad):
    with pytest.raises(ValueError) as info:
        parse_kv(["ok=1", bad], option="--strategy-arg")
    assert "--strategy-arg" in str(info.value) and repr(bad) in str(info.value)


def test_parse_kv_refuses_a_bare_string_and_non_strings():
    with pytest.raises(TypeError, match="--loss-arg.*single string"):
        parse_kv("a=1", option="--loss-arg")
    with pytest.raises(TypeError, match="--loss-arg"):
        parse_kv([("a", 1)], option="--loss-arg")


class Component:
    def __init__(self, size: int, p: float = 0.5, *, mode: str = "add"):
        pass


def factory_with_kwargs(a=1, **kwargs):
    return a


def test_signature_arguments_of_a_class_and_a_function():
    arguments, var_kwargs = signature_arguments(Component)
    assert list(arguments) == ["size", "p", "mode"] and arguments["p"] == 0.5 and not var_kwargs
    assert format_arguments(arguments) == "size (required), p=0.5, mode='add'"
    assert signature_arguments(factory_with_kwargs) == ({"a": 1}, True)


def test_check_kwargs_lists_valid_arguments_and_close_matches():
    check_kwargs(Component, {"size": 3, "mode": "x"}, family="augmentation", name="comp")
    with pytest.raises(TypeError) as info:
        check_kwargs(Component, {"sise": 3, "zzz": 1}, family="augmentation", name="comp")
    message = str(info.value)
    assert "augmentation 'comp'" in message and "'sise' (did you mean 'size'?)" in message and "'zzz'" in message
    assert "size (required), p=0.5, mode='add'" in message


def test_check_kwargs_accepts_anything_with_var_kwargs():
    check_kwargs(factory_with_kwargs, {"anything": 1}, family="loss", name="f")
