"""One writer per run file: each text file of a run directory (``args.yaml``, ``summary.csv``,
``metrics.jsonl``, ``summary.json``) is written by exactly one function of the package (``train.rundir``'s);
the engine and the strategies call it. Read with ``ast``: every write call whose path names the file."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import effl_plugins
from effl_plugins.train.rundir import RUN_FILES

PACKAGE = Path(effl_plugins.__file__).resolve().parent
#: The calls that write a file.
WRITES = {"atomic_write_text", "atomic_save", "write_text", "write_bytes", "open"}
TEXT_FILES = [name for name in RUN_FILES if not name.endswith(".pt")]


def _visit(node: ast.AST, where: str, found: dict[str, set[str]]) -> None:
    """Add ``where`` (``module:Class.function``) to ``found[name]`` for each write call under ``node`` whose
    path names a run file ``name``."""
    for child in ast.iter_child_nodes(node):
        inner = where
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = f"{where}.{child.name}" if not where.endswith(":") else f"{where}{child.name}"
        if isinstance(child, ast.Call) and child.args:
            called = getattr(child.func, "id", None) or getattr(child.func, "attr", None)
            if called in WRITES:
                target = child.func.value if called in ("write_text", "write_bytes") else child.args[0]
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Constant) and leaf.value in TEXT_FILES:
                        found[leaf.value].add(where)
        _visit(child, inner, found)


def _writers(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``{file name: {"module:function", ...}}`` of the functions whose write calls name a run file."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        _visit(ast.parse(path.read_text()), f"{module}:", found)
    return found


def test_each_run_file_has_one_writer():
    writers = _writers()
    assert {name: sorted(writers[name]) for name in TEXT_FILES} == {
        "args.yaml": ["effl_plugins.train.rundir:write_args"],
        "summary.csv": ["effl_plugins.train.rundir:write_records"],
        "metrics.jsonl": ["effl_plugins.train.rundir:write_records"],
        "summary.json": ["effl_plugins.train.rundir:write_summary"],
    }
