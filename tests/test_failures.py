"""Issue 17 item 5: counts that do not hide failures."""

import json
import resource
import signal
from pathlib import Path

import pytest

from imgengine.logs import RunLogger

from .conftest import is_root, run_cli, write_jpeg


def _broken(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"broken_{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated " + bytes([i]))


def test_unchanged_broken_files_are_still_reported(tmp_path: Path):
    root = tmp_path / "p"
    write_jpeg(root / "good.jpg")
    _broken(root, 7)
    args = ["analyze", root, "--no-vision", "--workers", "1"]
    first = run_cli(args)
    assert first.returncode == 1
    p = run_cli(args)
    assert p.returncode == 1, "broken files are still broken on a re-run"
    text = " ".join((p.stdout + p.stderr).split())
    assert "7 known broken, unchanged — `--retry-failed` to try again" in text
    doc = json.loads(run_cli([*args, "--json"]).stdout)
    assert doc["summary"]["known_broken"] == 7 and doc["summary"]["failed"] == 0
    p = run_cli([*args, "--retry-failed", "--json"])
    s = json.loads(p.stdout)["summary"]
    assert s["analyzed"] == 7 and s["failed"] == 7 and s["known_broken"] == 0


def test_first_failures_are_shown_one_line_each(tmp_path: Path):
    root = tmp_path / "p"
    _broken(root, 8)
    p = run_cli(["analyze", root, "--no-vision", "--workers", "1", "--log-dir", tmp_path / "logs"])
    assert p.returncode == 1
    failed = [line for line in p.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 5 and all("broken_" in line for line in failed)
    text = " ".join(p.stderr.split())
    assert "8 file(s) failed; 3 more; every error is in" in text and str(tmp_path / "logs") in text


@pytest.mark.skipif(is_root(), reason="root reads every folder")
def test_unreadable_folders_are_on_screen(tmp_path: Path):
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg")
    for name in ("locked1", "locked2"):
        (root / name).mkdir()
        (root / name).chmod(0)
    try:
        p = run_cli(["analyze", root, "--no-vision"])
    finally:
        for name in ("locked1", "locked2"):
            (root / name).chmod(0o755)
    assert "2 folder(s) could not be read" in " ".join(p.stderr.split())


def test_unreadable_folders_are_on_screen_as_root_too(tmp_path: Path):
    from .conftest import unprivileged_prefix

    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("cannot drop root's override of file modes")
    root = tmp_path / "p"
    write_jpeg(root / "a.jpg")
    tmp_path.chmod(0o777)
    root.chmod(0o777)
    for name in ("locked1", "locked2"):
        (root / name).mkdir()
        (root / name).chmod(0)
    try:
        p = run_cli(["analyze", root, "--no-vision", "--catalog", tmp_path / "c.db", "--log-dir",
                     tmp_path / "logs"], prefix)
    finally:
        for name in ("locked1", "locked2"):
            (root / name).chmod(0o755)
    assert p.returncode == 1, p.stderr
    assert "2 folder(s) could not be read" in " ".join(p.stderr.split())


def test_full_log_disk_is_noticed_and_leaves_no_temp_file(tmp_path: Path):
    logger = RunLogger(tmp_path / "logs", command="test")
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal: a "full" disk
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, old[1]))
        logger.write_summary({"big": "x" * 20000})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
    logger.close()
    assert logger.write_failed
    assert not list((tmp_path / "logs").glob("*.tmp"))


@pytest.mark.parametrize(("fail_on", "saved"), [(1, 0), (2, 3)])
def test_full_catalog_disk_says_how_much_was_saved(photo_dir: Path, settings, monkeypatch, fail_on, saved):
    import sqlite3

    from imgengine.core.catalog import Catalog, _catalog_error
    from imgengine.engine.run import run_analysis
    from imgengine.errors import CatalogError

    calls = {"n": 0}
    orig = Catalog.write_outcomes

    def flaky(self, outcomes):
        calls["n"] += 1
        if calls["n"] == fail_on:
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as exc:
                raise _catalog_error(exc, self.path)
        return orig(self, outcomes)

    monkeypatch.setattr(Catalog, "write_outcomes", flaky)
    with pytest.raises(CatalogError) as err:
        run_analysis(photo_dir, settings.replace(batch_commit=3, commit_seconds=1e9, vision=False))
    text = str(err.value)
    assert "disk is full" in text and f"{saved} file(s) of this run were saved" in text
    assert ("kept" in text) == bool(saved)
