"""Re-run photos through one analyzer of a plugin source file, in a fresh process.

Run as ``python -m imgengine.feedback.recheck --file PLUGIN.py --analyzer NAME PHOTO...``; prints one JSON
object: per photo whether the analyzer succeeded and whether its result has the right shape (a frozen
``Result`` dataclass whose ``to_dict()`` has exactly its fields and serialises to JSON). A fresh process
imports the file as it is on disk now, so a rewrite is what gets tested.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any


def load_module(file: Path) -> ModuleType:
    """Import a plugin file: as part of its package when it is in one (relative imports work)."""
    file = Path(file).resolve()
    parts = [file.stem]
    folder = file.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) > 1:
        sys.path.insert(0, str(folder))
        return importlib.import_module(".".join(parts))
    sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(f"imgengine_feedback_check_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def find_analyzer(module: ModuleType, name: str) -> type:
    """The Analyzer subclass called ``name`` in a module (or its only one)."""
    from ..analyzers.base import Analyzer

    classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Analyzer)
               and v is not Analyzer and v.__module__ == module.__name__]
    named = [c for c in classes if getattr(c, "name", None) == name]
    if named:
        return named[0]
    if len(classes) == 1:
        return classes[0]
    raise LookupError(f"no analyzer named {name!r} in {module.__file__}")


def shape_problem(result: Any) -> str | None:
    from ..analyzers.base import Result

    if not isinstance(result, Result) or not dataclasses.is_dataclass(result):
        return f"returned {type(result).__name__}, not a Result dataclass"
    data = result.to_dict()
    fields = [f.name for f in dataclasses.fields(result)]
    if list(data) != fields:
        return f"to_dict() keys {list(data)} differ from the fields {fields}"
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        return f"result does not serialise to JSON: {exc}"
    return None


def recheck(file: Path, analyzer: str, photos: list[Path]) -> dict[str, Any]:
    """Each photo through the engine's per-file stage (:func:`imgengine.engine.perfile.analyze_task`) with
    ``analyzer`` and what it requires, loaded fresh by the plugin manager from the folder of ``file``."""
    from ..engine.perfile import Task, analyze_task
    from ..engine.run import plugin_origins
    from ..plugins.manager import get_manager
    from ..settings import load_settings

    file = Path(file).resolve()
    settings = load_settings()
    if not file.is_relative_to(Path(__file__).resolve().parent.parent):   # a plugin, not imgengine itself
        folder = file.parent.parent if (file.parent / "__init__.py").exists() else file.parent
        settings = settings.replace(plugin_dirs=(*settings.plugin_dirs, str(folder)))
    manager = get_manager(settings)
    chosen = manager.select(settings, (analyzer,))
    target = chosen[analyzer]
    if getattr(target, "kind", "per-file") != "per-file":
        return {"analyzer": analyzer, "skipped": "a batch analyzer: the next `imgengine analyze` re-runs it"}
    captured: list[Any] = []
    original = target.analyze

    def analyze(item):  # keep the Result object itself: its shape is checked, not only its dict
        result = original(item)
        captured.append(result)
        return result

    target.analyze = analyze
    origins = plugin_origins(chosen, manager)
    out = []
    for path in photos:
        entry: dict[str, Any] = {"path": os.fsdecode(path)}
        captured.clear()
        st = os.stat(path)
        outcome = analyze_task(Task(Path(path), st.st_size, st.st_mtime_ns, tuple(chosen)), settings, chosen,
                               "feedback-recheck", origins)
        errors = [e for e in outcome.errors if e["stage"] == analyzer] or outcome.errors
        if errors:
            err = errors[0]
            entry.update(ok=False, error=f"{err['exception_type']}: {err['message']}", traceback=err["traceback"])
        elif not captured:
            entry.update(ok=False, error=f"{analyzer} did not run: {outcome.results.get(analyzer)}")
        else:
            problem = shape_problem(captured[-1])
            entry.update(ok=problem is None, error=problem)
        out.append(entry)
    return {"analyzer": analyzer, "results": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m imgengine.feedback.recheck")
    ap.add_argument("--file", required=True, type=Path)
    ap.add_argument("--analyzer", required=True)
    ap.add_argument("photos", nargs="*", type=Path)
    ns = ap.parse_args(argv)
    try:
        report = recheck(ns.file, ns.analyzer, ns.photos)
    except Exception as exc:  # noqa: BLE001
        report = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    sys.stdout.write(json.dumps(report, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
