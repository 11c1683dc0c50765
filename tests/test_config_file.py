"""``-c/--config FILE.yaml``: file values become the subcommand's defaults, the command line wins."""

from __future__ import annotations

import pytest

import effl_plugins.augment.spec as spec_module
from effl_plugins.cli import EfflArgumentParser
from effl_plugins.commands._train_args import add_training_args, training_settings
from effl_plugins.config_file import add_config_arg, parse_args_with_config


def build() -> EfflArgumentParser:
    parser = EfflArgumentParser(prog="effl")
    subparsers = parser.add_subparsers(dest="command")
    train = add_training_args(subparsers.add_parser("train"), epochs=10)
    train.add_argument("--data", required=True)
    other = subparsers.add_parser("other")
    other.add_argument("--size", type=int, default=3)
    plain = subparsers.add_parser("plain")
    plain.add_argument("--size", type=int, default=3)
    add_config_arg(other)
    return parser


def write(tmp_path, text: str) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def refused(capsys, argv) -> str:
    with pytest.raises(SystemExit) as info:
        parse_args_with_config(build(), argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_file_values_are_defaults_and_the_command_line_wins(tmp_path):
    config = write(
        tmp_path,
        (
            "data: digits\nlr: 1.0e-3\nbatch-size: 16\nweight_decay: 0.05\nmean: [0.5, 0.5, 0.5]\npretrained: true\n"
            "amp: true\nscale: [0.5, 1.0]\nstrategy-arg: {threshold: 0.95, mode: soft}\nepochs: 7\n"
        ),
    )
    args = parse_args_with_config(build(), ["train", "-c", config, "--lr", "0.1", "--strategy-arg", "threshold=0.5"])
    settings = training_settings(args)
    assert settings["lr"] == 0.1  # the command line wins
    assert settings["batch_size"] == 16 and settings["weight_decay"] == 0.05 and settings["epochs"] == 7
    assert settings["mean"] == (0.5, 0.5, 0.5) and settings["scale"] == (0.5, 1.0)
    assert settings["pretrained"] is True and settings["amp"] == "auto"
    assert settings["strategy_arg"] == {"threshold": 0.5, "mode": "soft"}
    assert args.data == "digits" and args.config == config  # a required flag may come from the file


def test_without_config_the_parse_is_unchanged(tmp_path):
    args = parse_args_with_config(build(), ["train", "--data", "x"])
    assert args.epochs == 10 and args.lr is None and args.config is None
    assert parse_args_with_config(build(), ["plain", "--size", "5"]).size == 5


def test_the_command_line_is_parsed_once(tmp_path, capsys, monkeypatch):
    """Without a -c file the first pass is the parse: each flag's type runs once (an --aug SPEC is parsed once);
    a SPEC from the file is parsed once too (its parse is the default the second pass keeps)."""
    calls = []
    parse = spec_module.parse_spec
    monkeypatch.setattr(spec_module, "parse_spec", lambda text: calls.append(text) or parse(text))
    assert parse_args_with_config(build(), ["train", "--data", "x", "--aug", "flip"]).aug.terms[0].name == "flip"
    assert calls == ["flip"]
    args = parse_args_with_config(build(), ["train", "-c", write(tmp_path, "aug: rotate\n"), "--data", "x"])
    assert args.aug == "rotate" and calls == ["flip", "rotate"]
    assert "--data" in refused(capsys, ["train"])  # a required flag left out, a word left over: the same errors
    assert "unrecognized arguments: --nope" in refused(capsys, ["train", "--data", "x", "--nope"])


def test_any_subparser_may_opt_in(tmp_path):
    config = write(tmp_path, "size: 9\n")
    assert parse_args_with_config(build(), ["other", "--config", config]).size == 9
    assert parse_args_with_config(build(), ["other", f"--config={config}", "--size", "4"]).size == 4


def test_empty_file_changes_nothing(tmp_path):
    args = parse_args_with_config(build(), ["train", "-c", write(tmp_path, ""), "--data", "x"])
    assert args.epochs == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr: 1e-3\nbatchsize: 4\nzzz_unknown: 1\n", "'batchsize' (did you mean 'batch-size'?), 'zzz_unknown'"),
        ("lr: [1, 2\n", "not valid YAML (line 2)"),
        ("- lr\n- 3\n", "must hold a mapping"),
        ("lr: .inf\n", "'lr' (--lr): expected a finite number"),
        ("lr: fast\n", "'lr' (--lr)"),
        ("pretrained: 3\n", "'pretrained' (--pretrained) must be true or false"),
        ("scale: [0.9, 0.1]\n", "'scale' (--scale): argument --scale: expected LOW <= HIGH"),
        ("mean: [1, 2]\n", "'mean' (--mean)"),
        ("amp: always\n", "'amp' (--amp): invalid choice"),
        ("epochs: null\n", "'epochs' (--epochs) needs a value"),
        ("device: [cpu, cpu]\n", "'device' (--device): expected one value"),
        ("strategy-arg: [novalue]\n", "'strategy-arg' (--strategy-arg)"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, capsys, text, expected):
    err = refused(capsys, ["train", "-c", write(tmp_path, text), "--data", "x"])
    assert err.startswith("effl train: error: -c/--config") and expected in err, err


def test_missing_file(tmp_path, capsys):
    err = refused(capsys, ["train", "-c", str(tmp_path / "nope.yaml"), "--data", "x"])
    assert "no such file" in err and "nope.yaml" in err


def test_command_line_errors_still_name_the_flag(tmp_path, capsys):
    err = refused(capsys, ["train", "-c", write(tmp_path, "lr: 0.1\n"), "--data", "x", "--lr", "inf"])
    assert "argument --lr" in err
    err = refused(capsys, ["train", "-c", write(tmp_path, "lr: 0.1\n")])
    assert "--data" in err  # still required when the file does not give it


def test_main_reads_config(tmp_path, capsys):
    from effl_plugins.cli import main

    config = write(tmp_path, "param: ['max_delta=0.5']\nsize: 16\nbackend: image\nseed: 3\n")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["augment", "preview", "brightness", "-c", config, "--out", str(a)]) == 0
    assert (
        main(
            [
                "augment",
                "preview",
                "brightness",
                "--param",
                "max_delta=0.5",
                "--size",
                "16",
                "--backend",
                "image",
                "--seed",
                "3",
                "--out",
                str(b),
            ]
        )
        == 0
    )
    assert a.read_bytes() == b.read_bytes()
    assert "16 draws of 'brightness', backend=image" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["augment", "preview", "brightness", "-c", write(tmp_path, "sise: 3\n"), "--out", str(a)])
    assert "effl augment preview: error: -c/--config" in capsys.readouterr().err
