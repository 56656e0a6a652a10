"""Plugins with real bugs, photos that trigger them, and error records made from the real exceptions."""

from __future__ import annotations

import textwrap
from pathlib import Path

from imgengine.analyzers.base import AnalysisInput
from imgengine.core.photo import Photo
from imgengine.feedback.recheck import find_analyzer, load_module
from imgengine.logs import RunLogger, error_record
from imgengine.settings import Settings
from imgengine.testing.samples import jpeg_bytes, scene

from ..plugins.helpers import write_plugin as write_plugin_file

HEADER = '''\
from dataclasses import dataclass

from imgengine.analyzers.base import Analyzer, Result
from imgengine.plugins import hookimpl
'''
REGISTER = '''

@hookimpl
def register_analyzers():
    return [c for c in globals().values() if isinstance(c, type) and issubclass(c, Analyzer) and c is not Analyzer]
'''


def write_plugin(folder: Path, name: str, body: str) -> Path:
    """The imports, the analyzer classes of ``body``, and a ``register_analyzers`` that returns every
    Analyzer subclass the module defines (so it still registers after a rewrite)."""
    return write_plugin_file(folder, name, HEADER + textwrap.dedent(body) + REGISTER)


def photo(path: Path, seed: int = 0, black: bool = False) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (64, 48)) if black else scene(64, 48, seed=seed)
    path.write_bytes(jpeg_bytes(img))
    return path


def run_plugin(plugin: Path, analyzer: str, photos: list[Path], log_dir: Path) -> list[dict]:
    """Run one plugin analyzer on photos as the pipeline does and log its errors to errors.jsonl."""
    module = load_module(plugin)
    inst = find_analyzer(module, analyzer)()
    logger = RunLogger(log_dir)
    results = []
    for p in photos:
        try:
            results.append(inst.analyze(AnalysisInput(Photo.from_path(p), Settings())).to_dict())
        except Exception as exc:  # noqa: BLE001
            logger.error(error_record(logger.run_id, str(p), analyzer, exc))
            results.append({"error": type(exc).__name__})
    logger.close()
    return results
