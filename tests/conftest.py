"""Shared fixtures: offline hub, fresh plugin state, fake plugin distributions."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
import types
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from effl_plugins.plugins import reset_manager  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Plugin state rebuilt before and after the test (for tests that change what is installed)."""
    monkeypatch.delenv("EFFL_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("EFFL_LOAD_PLUGINS", raising=False)
    reset_manager()
    yield
    reset_manager()


class FakeDistribution(metadata.Distribution):
    """An installed distribution held in memory: its ``METADATA`` and ``entry_points.txt`` files only.

    A complete ``importlib.metadata.Distribution`` (name, version, entry points, normalised name), so
    that every library reading the installed metadata while it is listed (``entry_points()``, an import
    that scans distributions) works as it would with real ones.
    """

    def __init__(self, name: str, entry_points: dict[str, str], version: str = "9.9"):
        lines = "".join(f"{n} = {v}\n" for n, v in entry_points.items())
        self._files = {
            "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            "entry_points.txt": f"[effl_plugins]\n{lines}",
        }

    def read_text(self, filename: str) -> str | None:
        """The text of one of the distribution's metadata files, None for any other."""
        return self._files.get(filename)

    def locate_file(self, path):
        """Where ``path`` would be installed (nothing of it is on disk)."""
        return Path("/nonexistent-fake-distribution") / path


@pytest.fixture
def fake_distributions(monkeypatch, fresh_plugins):
    """``install(name, module_name=module_or_source, ...)`` adds a fake distribution whose entry
    points name in-memory modules; the real distributions stay installed beside them."""
    real = list(metadata.distributions())
    fakes: list[FakeDistribution] = []
    monkeypatch.setattr(metadata, "distributions", lambda: real + fakes)

    def install(dist_name: str, **modules: types.ModuleType | str) -> None:
        entry_points = {}
        for ep_name, module in modules.items():
            module_name = f"_fake_{dist_name.replace('-', '_')}_{ep_name}"
            if isinstance(module, str):  # source code of a module that may fail on import
                source, module = module, types.ModuleType(module_name)
                finder = _SourceFinder(module_name, source)
                monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
            else:
                monkeypatch.setitem(sys.modules, module_name, module)
            entry_points[ep_name] = module_name
        fakes.append(FakeDistribution(dist_name, entry_points))
        reset_manager()

    return install


class _SourceFinder:
    """Imports one module from source text, so that its import errors happen at load time."""

    def __init__(self, name: str, source: str):
        self.name, self.source = name, source

    def find_spec(self, fullname, path=None, target=None):
        import importlib.util

        if fullname != self.name:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(compile(self.source, f"<{self.name}>", "exec"), module.__dict__)


def plugin_module(name: str, **hooks) -> types.ModuleType:
    """A plugin module whose hookimpls are the given ``register_<family>`` functions."""
    import effl_plugins as ep

    module = types.ModuleType(name)
    for hook_name, function in hooks.items():

        def hook(register, _function=function):
            return _function(register)

        hook.__name__ = hook_name
        setattr(module, hook_name, ep.hookimpl(hook))
    return module
