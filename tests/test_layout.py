"""The package's structure: no import cycles among effl_plugins modules, dependencies that point down the
README's Layout list, imports inside functions only where a reason is written here, and a Layout that
names every top-level package and module.

Imports are read with ``ast`` (importing every module in a fresh interpreter would take minutes). An
``import`` of ``effl_plugins.a.b`` is an edge to ``effl_plugins.a.b``; ``from .a import name`` is an
edge to the module ``a.name`` when there is one, else to ``a`` (a package's ``__init__``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "effl_plugins"

#: Entry points: they may import the public facade ``effl_plugins`` itself, as any user does.
ENTRY_POINTS = ("cli", "commands", "plugin_commands", "bench", "testing")

#: Where effl_plugins modules are imported inside functions, and why (module name prefix -> reason).
DEFERRED_IMPORTS = {
    "effl_plugins.cli": "`effl --help` and `effl list` start without torch: a subcommand imports what it runs",
    "effl_plugins.commands": "each subcommand imports torch, timm and the training code only when it runs",
    "effl_plugins.plugin_commands": "plugin subcommands load when `effl` builds its parser, not on import",
    "effl_plugins.bench": "a benchmark imports its subjects and peers when it runs; `effl bench --help` loads none",
    "effl_plugins.testing": "the conformance checks import torch and the registry when called, not on import",
    "effl_plugins.augment.kernels": "the Triton kernels compile on first use on CUDA only",
    "effl_plugins.augment.spec": "a SPEC string reaches the registry (and every plugin) only when it is built",
    "effl_plugins.augment.compose": "a SPEC string reaches the registry (and every plugin) only when it is built",
    "effl_plugins.train.specs": "a SPEC string reaches the registry (and every plugin) only when it is built",
    "effl_plugins.train.tasks": "a SPEC string reaches the registry (and every plugin) only when it is built",
    "effl_plugins.strategies": "a strategy builds its model, data config and loss when it runs, so listing and "
    "creating strategies stays cheap",
    "effl_plugins.demo": "the demo imports the strategies when it runs and matplotlib only to plot",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions) of effl_plugins modules by ``name``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: tuple[set[str], set[str]] = (set(), set())

    def targets(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in targets(child):
                    if target in MODULES and target != name:
                        found[in_function].add(target)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _layout() -> list[str]:
    """The entries of the README's Layout block under ``effl_plugins/``, top to bottom."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    names = []
    for line in block.splitlines():
        match = re.match(r"^  (\S.*?)\s{2,}\S", line)
        if match:
            names += [part.strip().rstrip("/").removesuffix(".py") for part in match.group(1).split(",")]
    return names


def _top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_graph_sees_the_package():
    assert len(MODULES) > 100 and "effl_plugins.losses.base" in GRAPH["effl_plugins.losses.kd"][0]
    assert "effl_plugins._validate" in GRAPH["effl_plugins.augment.brightness"][0]


def test_no_import_cycles_among_modules_counting_deferred_imports():
    edges = {name: top | deferred for name, (top, deferred) in GRAPH.items()}
    assert _cycles(edges) == []


def test_imports_inside_functions_are_where_a_reason_is_given():
    unexplained = sorted(
        f"{name} -> {target}"
        for name, (_, deferred) in GRAPH.items()
        for target in deferred
        if not any(name == prefix or name.startswith(prefix + ".") for prefix in DEFERRED_IMPORTS)
    )
    assert unexplained == [], "import at module level, or add the module and the reason to DEFERRED_IMPORTS"


def test_library_modules_do_not_import_the_public_facade():
    offenders = sorted(
        name
        for name, (top, deferred) in GRAPH.items()
        if "effl_plugins" in top | deferred and _top(name) not in ENTRY_POINTS and name != "effl_plugins"
    )
    assert offenders == [], "import from effl_plugins._api or the module itself"


def test_dependencies_point_down_the_layout():
    rank = {name: i for i, name in enumerate(_layout())}
    upward = sorted(
        f"{name} -> {target}"
        for name, (top, deferred) in GRAPH.items()
        for target in top | deferred
        if target != "effl_plugins" and rank[_top(name)] > rank[_top(target)]
    )
    assert upward == []


def test_readme_layout_lists_every_top_level_package_and_module():
    listed = set(_layout())
    present = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    present |= {path.stem for path in PACKAGE.glob("*.py")}
    assert sorted(present - listed) == [], "describe it in README.md's Layout"
    assert sorted(listed - present) == [], "README.md's Layout names what is not there"
