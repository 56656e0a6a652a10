"""Shared fixtures: photos generated in code (Pillow + piexif), the real-camera corpus when present."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from imgengine.settings import Settings
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene, store_rotated

# ../shared/corpus beside the checkout; IMGENGINE_TEST_CORPUS points elsewhere; a worktree under
# /work/wt/<name> finds /work/shared/corpus one level further up
_ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("IMGENGINE_TEST_CORPUS") or next(
    (p for p in (_ROOT.parent / "shared" / "corpus", _ROOT.parent.parent / "shared" / "corpus") if p.is_dir()),
    _ROOT.parent / "shared" / "corpus"))


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch):
    """Every test (and every subprocess it starts) gets its own HOME and XDG folders: logs, models and the
    run index never touch the real home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_STATE_HOME", ".local/state"), ("XDG_DATA_HOME", ".local/share"),
                     ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache")):
        monkeypatch.setenv(var, str(home / sub))
    for var in ("IMGENGINE_STATE_DIR", "IMGENGINE_RUN_INDEX", "IMGENGINE_LOG_DIR", "IMGENGINE_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return CORPUS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that keep the catalog and logs inside the test's temp folder, one worker."""
    return Settings(workers=1, log_dir=tmp_path / "logs", catalog=tmp_path / "state" / "catalog.db")


def write_jpeg(path: Path, size=(640, 480), seed=0, exif: bytes | None = None, quality=90,
               orientation: int = 1, when: dt.datetime | None = None) -> Path:
    img = scene(*size, seed=seed)
    if orientation != 1:
        img = store_rotated(img, orientation)
    if exif is None:
        exif = camera_exif(orientation=orientation, when=when)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(img, exif, quality))
    return path


def write_png(path: Path, size=(320, 240), seed=0) -> Path:
    buf = io.BytesIO()
    scene(*size, seed=seed).save(buf, "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A small folder of good photos: 6 JPEGs (two cameras, GPS), a PNG, in a sub-folder too."""
    root = tmp_path / "photos"
    for i in range(4):
        write_jpeg(root / f"IMG_{i:04d}.jpg", seed=i,
                   exif=camera_exif(gps=(10.0 + i, -20.0, 5.0) if i % 2 else None,
                                    when=dt.datetime(2020, 1, 1 + i, 12, 0, 0)))
    write_jpeg(root / "trip" / "DSC_0001.JPG", seed=10)
    write_jpeg(root / "trip" / "DSC_0002.JPG", seed=11)
    write_png(root / "trip" / "drawing.png", seed=12)
    return root


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def unprivileged_prefix() -> list[str] | None:
    """A command prefix under which file modes are enforced: [] for a normal user; for root (CI runs as
    root), setpriv dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; None when neither is possible."""
    import shutil
    import subprocess

    if not is_root():
        return []
    exe = shutil.which("setpriv")
    if not exe:
        return None
    prefix = [exe, "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run(prefix + ["true"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def run_cli(args: list, prefix: list[str] | None = None):
    """Run the real `imgengine` entry point in a subprocess (optionally under ``prefix``)."""
    import subprocess
    import sys

    code = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"
    return subprocess.run([*(prefix or []), sys.executable, "-c", code, *map(str, args)],
                          capture_output=True, text=True)


__all__ = ["Image", "is_root", "write_jpeg", "write_png"]


def signal_once_rows_committed(proc, catalog: Path, sig: int, timeout: float = 60.0) -> tuple[str, str]:
    """Wait until the running ``imgengine analyze`` ``proc`` has committed rows to ``catalog``, send it
    ``sig`` and return its (stdout, stderr); skips the test when the run finished before that."""
    import sqlite3
    import time

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:  # wait until the first rows are committed
        time.sleep(0.2)
        try:
            with sqlite3.connect(catalog) as db:
                if db.execute("SELECT count(*) FROM photos").fetchone()[0]:
                    break
        except sqlite3.Error:
            pass
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    proc.send_signal(sig)
    return proc.communicate(timeout=60)
