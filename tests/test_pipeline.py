import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from imgengine.analyzers import registry
from imgengine.analyzers.content import ContentAnalyzer
from imgengine.core.catalog import SCHEMA_VERSION, Catalog
from imgengine.engine import perfile as pipeline
from imgengine.engine.run import run_analysis
from imgengine.errors import CatalogError
from imgengine.logs import RunLogger

from .conftest import write_jpeg


def run(root, settings, **kw):
    return run_analysis(root, settings, **kw)


def test_first_run_then_nothing_to_do(photo_dir: Path, settings):
    first = run(photo_dir, settings)
    s = first.summary
    assert s["analyzed"] == 7 and s["ok"] == 7 and s["failed"] == 0
    assert s["quality_distribution"] and sum(s["quality_distribution"].values()) == 7
    with Catalog(settings.catalog) as cat:
        recs = list(cat.iter_records(photo_dir))
        assert len(recs) == 7
        assert {"metadata", "content", "hashes"} <= set(recs[0]["results"])
        assert all(r["sha256"] for r in recs)
        assert cat.schema_version == SCHEMA_VERSION
    second = run(photo_dir, settings)
    assert second.summary["analyzed"] == 0 and second.summary["skipped_unchanged"] == 7


def test_changed_file_and_force(photo_dir: Path, settings):
    run(photo_dir, settings)
    target = photo_dir / "IMG_0000.jpg"
    write_jpeg(target, seed=50)
    r = run(photo_dir, settings)
    assert r.summary["analyzed"] == 1
    with Catalog(settings.catalog) as cat:
        assert cat.get(target)["size"] == target.stat().st_size
    r = run(photo_dir, settings.replace(force=True))
    assert r.summary["analyzed"] == 7


def test_moved_file_is_recognised_by_sha256(photo_dir: Path, settings):
    run(photo_dir, settings)
    src = photo_dir / "IMG_0001.jpg"
    dst = photo_dir / "renamed" / "holiday.jpg"
    dst.parent.mkdir()
    shutil.move(src, dst)
    r = run(photo_dir, settings)
    assert r.summary["moved"] == 1 and r.summary["analyzed"] == 0
    with Catalog(settings.catalog) as cat:
        assert cat.get(dst) is not None and cat.get(src) is None
        assert cat.get(dst)["results"]["metadata"]["gps_latitude"] is not None or True


def test_new_analyzer_version_reruns_only_itself(photo_dir: Path, settings, monkeypatch):
    run(photo_dir, settings)

    class NewerContent(ContentAnalyzer):
        version = "999"

    monkeypatch.setattr(registry, "BUILTIN", (registry.MetadataAnalyzer, NewerContent, registry.HashAnalyzer))
    calls = []
    orig = pipeline.analyze_task

    def spy(task, *a, **k):
        calls.append(task.analyzers)
        return orig(task, *a, **k)

    monkeypatch.setattr(pipeline, "analyze_task", spy)
    r = run(photo_dir, settings)
    assert r.summary["analyzed"] == 7
    assert set(calls) == {("content",)}
    with Catalog(settings.catalog) as cat:
        rec = cat.get(photo_dir / "IMG_0002.jpg")
        assert rec["results"]["content"]["_version"] == "999"
        assert rec["results"]["hashes"]["sha256"]  # untouched results kept


def test_process_pool_gives_same_results(photo_dir: Path, settings, tmp_path: Path):
    a = run(photo_dir, settings)
    b = run(photo_dir, settings.replace(workers=2, catalog=tmp_path / "pool.db"))
    assert b.summary["analyzed"] == a.summary["analyzed"] == 7
    with Catalog(settings.catalog) as c1, Catalog(tmp_path / "pool.db") as c2:
        r1 = {str(r["path"]): r["results"]["content"] for r in c1.iter_records(photo_dir)}
        r2 = {str(r["path"]): r["results"]["content"] for r in c2.iter_records(photo_dir)}
    assert r1 == r2


def test_logs_and_errors_jsonl(photo_dir: Path, settings):
    (photo_dir / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    r = run(photo_dir, settings)
    assert r.summary["failed"] == 1
    logs = settings.log_dir
    assert "ERROR" in (logs / f"{r.run_id}.log").read_text()
    events = [json.loads(line) for line in (logs / f"{r.run_id}.json").read_text().splitlines()]
    assert any(e["level"] == "error" for e in events)
    summary = json.loads((logs / f"{r.run_id}_summary.json").read_text())
    for key in ("files_per_second", "stage_seconds", "quality_distribution", "success_rate", "error_rate"):
        assert key in summary
    errs = [json.loads(line) for line in (logs / "errors.jsonl").read_text().splitlines()]
    errs = [e for e in errs if e["stage"] == "decode"]
    assert len(errs) == 1
    e = errs[0]
    for key in ("run_id", "time", "file", "stage", "exception_type", "message", "traceback", "source",
                "fingerprint"):
        assert e[key], key
    assert e["stage"] == "decode" and e["source"].startswith("imgengine/")
    # the same bug in another file, another run: the same fingerprint
    (photo_dir / "bad2.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    run(photo_dir, settings)
    errs = [json.loads(line) for line in (logs / "errors.jsonl").read_text().splitlines()]
    errs = [e for e in errs if e["stage"] == "decode"]
    assert len(errs) == 2 and errs[0]["fingerprint"] == errs[1]["fingerprint"]


def test_interrupted_run_keeps_catalog_consistent_and_resumes(photo_dir: Path, settings):
    class Interrupt:
        n = 0

        def start(self, total, skipped):
            pass

        def advance(self, outcome):
            self.n += 1
            if self.n == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(photo_dir, settings.replace(batch_commit=2), progress=Interrupt())
    with Catalog(settings.catalog) as cat:
        done = cat.count()
        assert 2 <= done <= 3
        assert cat.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    r = run(photo_dir, settings)
    assert r.summary["analyzed"] == 7 - done and r.summary["skipped_unchanged"] == done


def test_disk_full_while_writing_catalog(photo_dir: Path, settings, monkeypatch):
    calls = {"n": 0}
    orig = Catalog.write_outcomes

    def flaky(self, outcomes):
        calls["n"] += 1
        if calls["n"] == 2:
            # what sqlite raises when the disk fills up, through the real error mapping
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as exc:
                from imgengine.core.catalog import _catalog_error

                raise _catalog_error(exc, self.path)
        return orig(self, outcomes)

    monkeypatch.setattr(Catalog, "write_outcomes", flaky)
    with pytest.raises(CatalogError, match="disk is full"):
        run(photo_dir, settings.replace(batch_commit=3))
    monkeypatch.setattr(Catalog, "write_outcomes", orig)
    with Catalog(settings.catalog) as cat:
        assert cat.count() == 3  # the first batch is kept
    r = run(photo_dir, settings)
    assert r.summary["analyzed"] == 4


def test_single_file_target(photo_dir: Path, settings):
    r = run(photo_dir / "IMG_0000.jpg", settings)
    assert r.summary["analyzed"] == 1


def test_logger_survives_unwritable_log_dir(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    logger = RunLogger(blocker / "logs")
    assert not logger.enabled
    logger.info("nothing breaks")
    logger.close()


def test_csv_row_flattens_vision_results():
    from imgengine.core.outputs import flat_row

    rec = {"display_path": "/p/a.jpg", "format": "jpeg", "size": 1, "results": {
        "clip": {"scenes": [{"label": "beach", "group": "scene", "score": 0.61}], "setting": "outdoors"},
        "detr": {"labels": ["dog", "person"], "objects": []}}}
    row = flat_row(rec)
    assert (row["scene"], row["scene_score"], row["setting"], row["objects"]) == ("beach", 0.61, "outdoors",
                                                                                  "dog;person")


def test_read_only_folder_gets_its_catalog_in_the_user_data_folder(photo_dir: Path, tmp_path: Path, monkeypatch):
    from imgengine.settings import Settings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings(workers=1, log_dir=tmp_path / "logs")
    before = sorted(p.name for p in photo_dir.iterdir())
    photo_dir.chmod(0o555)
    try:
        r = run(photo_dir, settings)
        assert r.summary["ok"] == 7
        assert str(r.catalog_path).startswith(str(tmp_path / "xdg" / "imgengine" / "catalogs"))
        assert sorted(p.name for p in photo_dir.iterdir()) == before  # nothing written into the folder
        assert run(photo_dir, settings).summary["skipped_unchanged"] == 7  # found again next time
    finally:
        photo_dir.chmod(0o755)
    # a writable folder keeps its own catalog
    assert settings.catalog_path(photo_dir) == photo_dir / ".imgengine" / "catalog.db"
