"""Issue 17 item 7: SIGTERM behaves like Ctrl-C (exit 143, work saved); commits every few seconds."""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from imgengine.engine.run import run_analysis

from .conftest import signal_once_rows_committed, write_jpeg

CLI = [sys.executable, "-c", "import sys; from imgengine.cli.app import main; sys.argv[0]='imgengine'; main()"]


def test_catalog_is_committed_every_few_seconds_not_only_every_batch(photo_dir: Path, settings):
    """With a batch far larger than the run, rows still reach the catalog while the run goes on."""
    seen_during_run = []

    class Probe:
        def start(self, total, skipped):
            pass

        def advance(self, outcome):
            if settings.catalog.exists():
                with sqlite3.connect(settings.catalog) as db:
                    seen_during_run.append(db.execute("SELECT count(*) FROM photos").fetchone()[0])

    run_analysis(photo_dir, settings.replace(vision=False, batch_commit=10**6, commit_seconds=0.0), progress=Probe())
    assert seen_during_run and seen_during_run[-1] >= len(seen_during_run) - 1 > 0


def test_sigterm_saves_work_and_exits_143(tmp_path: Path):
    root = tmp_path / "many"
    for i in range(150):
        write_jpeg(root / f"p{i:03d}.jpg", size=(1600, 1200), seed=i % 7)
    cat = tmp_path / "c.db"
    proc = subprocess.Popen(CLI + ["analyze", str(root), "--catalog", str(cat), "--workers", "2", "-q",
                                   "--no-vision"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "IMGENGINE_COMMIT_SECONDS": "0.2"})
    out, err = signal_once_rows_committed(proc, cat, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert "interrupted: work done so far is saved" in err and "Traceback" not in err
    with sqlite3.connect(cat) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        saved = db.execute("SELECT count(*) FROM photos").fetchone()[0]
    assert 0 < saved < 150
    p = subprocess.run(CLI + ["analyze", str(root), "--catalog", str(cat), "--workers", "2", "-q", "--no-vision",
                              "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    import json

    s = json.loads(p.stdout)["summary"]
    assert s["skipped_unchanged"] >= saved and s["skipped_unchanged"] + s["analyzed"] == 150
