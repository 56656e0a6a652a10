"""Writing plugin folders for tests: each plugin is real Python source imported by the real manager."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_plugin(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def line_of(path: Path, marker: str) -> int:
    """1-based line number of the first line of ``path`` containing ``marker``."""
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if marker in line:
            return i
    raise AssertionError(f"{marker!r} not in {path}")


BRIGHTNESS_PLUS = '''
    """Doubles the content analyzer's brightness (reads another analyzer's result)."""
    from dataclasses import dataclass

    from imgengine.analyzers.base import Analyzer, Result
    from imgengine.plugins import hookimpl

    __version__ = "0.3"


    @dataclass(frozen=True)
    class Scaled(Result):
        value: float
        pixels_long_side: int


    class BrightnessPlus(Analyzer):
        name = "brightness_plus"
        version = "2"
        needs_pixels = True
        description = "content brightness times a factor"
        requires = ("content",)
        config_defaults = {"factor": 2.0}
        csv_fields = {"bright_x": "value"}
        pixel_size = 700

        def analyze(self, item):
            px = item.pixels_at(self.pixel_size)
            return Scaled(item.results["content"]["brightness"] * self.config["factor"], int(max(px.shape[:2])))


    @hookimpl
    def register_analyzers():
        return [BrightnessPlus]
'''

FLAKY = '''
    """Raises on some photos, returns the wrong type on others."""
    from imgengine.analyzers.base import Analyzer
    from imgengine.plugins import hookimpl

    __version__ = "1.0"


    class Flaky(Analyzer):
        name = "flaky"
        version = "1"

        def analyze(self, item):
            stem = item.photo.path.stem
            if stem.endswith(("1", "3")):
                raise ValueError(f"cannot handle {stem}")  # FLAKY-RAISE
            if stem.endswith("2"):
                return 42
            return {"ok": True, "stem": stem}


    @hookimpl
    def register_analyzers():
        return [Flaky]
'''

SLEEPY = '''
    import time

    from imgengine.analyzers.base import Analyzer
    from imgengine.plugins import hookimpl


    class Sleepy(Analyzer):
        name = "sleepy"
        version = "1"
        config_defaults = {"seconds": 30.0}

        def analyze(self, item):
            if item.photo.path.stem.endswith("0"):
                time.sleep(self.config["seconds"])  # SLEEPY-SLEEP
            return {"slept": False}


    @hookimpl
    def register_analyzers():
        return [Sleepy]
'''

BROKEN_IMPORT = '''
    import imgengine_no_such_dependency  # noqa: F401
'''
