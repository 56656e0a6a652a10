"""The plugin API: pluggy markers and the plugin manager.

A plugin is a module (or package) with functions marked ``@hookimpl`` whose names match the hooks in
:mod:`imgengine.plugins.hookspecs`. Built-in features are registered as plugins too
(:mod:`imgengine.plugins.builtin`), through exactly the hooks a third party uses.

Importing this package imports pluggy only; discovery (entry points, plugin folders) happens when a
command first asks the manager for something (:func:`imgengine.plugins.manager.get_manager`).
"""

from __future__ import annotations

import pluggy

PROJECT = "imgengine"
ENTRY_POINT_GROUP = "imgengine.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"]
