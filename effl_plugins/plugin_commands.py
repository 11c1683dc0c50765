"""Subcommands that installed plugins add to ``effl`` through the ``register_commands`` hook.

A plugin module (an entry point of group ``effl_plugins``) may implement::

    @ep.hookimpl
    def register_commands(subparsers):
        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="world")
        parser.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)

``handler(args) -> int`` runs the command (its return value is the exit status). Only the
modules of other distributions are imported here, not the built-in components, so ``effl --help``
stays fast; ``EFFL_LOAD_PLUGINS`` selects distributions as for components. A plugin whose hook
fails, or that reuses a command name, is skipped with a warning naming it (``EFFL_STRICT_PLUGINS=1``:
an error); one that fails to import is skipped here and reported by the component loader.
"""

from __future__ import annotations

import argparse
import warnings

__all__ = ["add_plugin_commands"]


def add_plugin_commands(subparsers: argparse._SubParsersAction) -> list[str]:
    """Call every installed plugin's ``register_commands(subparsers)``; return the commands added.

    Strict mode (``EFFL_STRICT_PLUGINS=1``): a failing hook raises ``PluginLoadError`` naming the plugin
    (``effl`` turns it into one line on stderr, exit 2)."""
    from .plugins import plugin_output_to_stderr

    with plugin_output_to_stderr():  # what a plugin prints must not mix into a command's stdout
        return _add_plugin_commands(subparsers)


def _add_plugin_commands(subparsers: argparse._SubParsersAction) -> list[str]:
    from . import plugins
    from .errors import EfflWarning, PluginLoadError

    added: list[str] = []
    for _, dist_name, _, entry_point in plugins.PluginManager()._entry_points():  # the loader's discovery
        if plugins._normalize(dist_name) == plugins.BUILTIN_DISTRIBUTION:
            continue
        plugin = f"{dist_name}:{entry_point.name}"
        before = set(subparsers.choices)
        with plugins._watch_sigint() as watch:
            try:
                module = entry_point.load()
            except BaseException as exc:  # noqa: BLE001 - the component loader reports it, once
                if plugins._real_interrupt(exc, watch):
                    raise
                continue
            hook = getattr(module, "register_commands", None)
            if hook is None or not hasattr(hook, "effl_plugins_impl"):
                continue
            try:
                hook(subparsers=subparsers)
            except BaseException as exc:  # noqa: BLE001 - one bad plugin must not break effl, sys.exit included
                if plugins._real_interrupt(exc, watch):
                    raise
                undo = set(subparsers.choices) - before  # what the failing plugin added before it failed
                for name in undo:
                    subparsers.choices.pop(name, None)
                subparsers._choices_actions[:] = [a for a in subparsers._choices_actions if a.dest not in undo]
                error = PluginLoadError(plugin, dist_name, exc)
                if plugins._strict():
                    raise error from exc
                warnings.warn(f"{error} (while adding its effl commands)", EfflWarning, stacklevel=2)
                continue
        added.extend(sorted(set(subparsers.choices) - before))
    return added
