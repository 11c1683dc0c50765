"""Every ```python block of README.md runs as written, each on its own in a fresh namespace and an empty
working directory. A block that cannot run here is marked by an HTML comment on the line before it,
``<!-- not-run: REASON -->``, and the reason is required; no block is skipped without one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_RUN = re.compile(r"<!--\s*not-run:(.*?)-->")


@dataclass(frozen=True)
class Block:
    """One fenced python block: the line its code starts on, its code, and the not-run reason (or None)."""

    line: int
    code: str
    not_run: str | None


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of ``text`` in order, each with the not-run reason written on the line before it."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        if lines[index].strip() == "```python":
            start = index + 1
            end = next(i for i in range(start, len(lines)) if lines[i].strip() == "```")
            before = lines[index - 1] if index > 0 else ""
            marker = NOT_RUN.search(before)
            blocks.append(Block(start + 1, "\n".join(lines[start:end]) + "\n", marker.group(1) if marker else None))
            index = end
        index += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks_and_every_not_run_mark_says_why():
    assert len(BLOCKS) >= 5
    for block in BLOCKS:
        if block.not_run is not None:
            assert block.not_run.strip(), f"README.md:{block.line}: a not-run mark needs a reason"
    text = README.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(text):
        if NOT_RUN.search(line):
            following = text[number + 1].strip() if number + 1 < len(text) else ""
            assert following == "```python", f"README.md:{number + 1}: a not-run mark must sit right before a block"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b.line}" for b in BLOCKS])
def test_the_block_runs_as_written(block: Block, tmp_path, monkeypatch):
    if block.not_run is not None:
        pytest.skip(f"README.md:{block.line} is marked not-run: {block.not_run.strip()}")
    monkeypatch.chdir(tmp_path)
    code = compile(block.code, f"README.md:{block.line}", "exec")
    exec(code, {"__name__": "__readme__"})
