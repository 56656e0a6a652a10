"""What a pool worker sends back (results as the catalog's JSON text) and how the SQLite writer stores a batch:
the same rows whichever executor ran the files, and the same as before the wire form existed."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from imgengine.core.catalog import Catalog
from imgengine.engine.perfile import EncodedResults, FileOutcome, Task, analyze_task
from imgengine.engine.run import run_analysis, select_analyzers


def _rows(catalog_path: Path) -> dict[tuple[str, str], tuple]:
    with Catalog(catalog_path) as cat:
        return {(r[0], r[1]): tuple(r[2:]) for r in cat.db.execute(
            "SELECT p.display_path, r.analyzer, r.version, r.data, r.error FROM results r "
            "JOIN photos p ON p.id = r.photo_id")}


def test_a_worker_outcome_round_trips_with_the_same_results_and_json(photo_dir: Path, settings):
    settings = settings.replace(analyzers=("metadata", "hashes"), vision=False)
    analyzers = select_analyzers(settings)
    analyzers = {n: a for n, a in analyzers.items() if n in ("metadata", "hashes")}
    for a in analyzers.values():
        a.setup(settings)
    path = photo_dir / "IMG_0001.jpg"
    st = path.stat()
    made = analyze_task(Task(path, st.st_size, st.st_mtime_ns, tuple(analyzers)), settings, analyzers, "run")
    back = pickle.loads(pickle.dumps(made))
    assert isinstance(back.results, EncodedResults)
    assert back.path == made.path and back.sha256 == made.sha256 and back.status == made.status == "ok"
    assert dict(back.results.items()) == made.results
    assert back.results["metadata"][1]["gps_latitude"] == made.results["metadata"][1]["gps_latitude"]
    expected = [(n, v, json.dumps(d, ensure_ascii=False), e) for n, (v, d, e) in made.results.items()]
    assert list(back.result_rows()) == list(made.result_rows()) == expected
    back.results["metadata"] = ("9", None, "replaced")   # what the batch stage does to an outcome
    assert back.results["metadata"] == ("9", None, "replaced")
    assert ("metadata", "9", None, "replaced") in list(back.result_rows())


def test_pool_and_serial_runs_store_the_same_rows(photo_dir: Path, settings, tmp_path: Path):
    serial = settings.replace(analyzers=("metadata",), vision=False, workers=1, catalog=tmp_path / "serial.db")
    pool = serial.replace(workers=2, catalog=tmp_path / "pool.db")
    a = run_analysis(photo_dir, serial)
    b = run_analysis(photo_dir, pool)
    assert a.summary["ok"] == b.summary["ok"] == 7
    rows_a, rows_b = _rows(a.catalog_path), _rows(b.catalog_path)
    assert len(rows_a) == 7 and rows_a == rows_b
    data = json.loads(rows_b[(str(photo_dir / "IMG_0001.jpg"), "metadata")][1])
    assert data["gps_latitude"] == 11.0


def _outcome(path: Path, results: dict, replace: bool = True) -> FileOutcome:
    return FileOutcome(path, 10, 20, "jpeg", results=results, replace_results=replace)


def test_the_same_photo_twice_in_one_batch_ends_as_written_one_after_the_other(tmp_path: Path):
    photo = tmp_path / "a.jpg"
    with Catalog(tmp_path / "c.db") as cat:
        cat.write_outcomes([
            _outcome(photo, {"x": ("1", {"v": 1}, None), "y": ("1", {"v": 2}, None)}),
            _outcome(photo, {"x": ("1", {"v": 3}, None)}),                    # replaces: y is gone
            _outcome(tmp_path / "b.jpg", {"x": ("1", {"v": 4}, None)}),
        ])
        cat.write_outcomes([_outcome(photo, {"y": ("2", {"v": 5}, None)}, replace=False)])  # keeps x
    rows = _rows(tmp_path / "c.db")
    assert rows == {(str(photo), "x"): ("1", '{"v": 3}', None), (str(photo), "y"): ("2", '{"v": 5}', None),
                    (str(tmp_path / "b.jpg"), "x"): ("1", '{"v": 4}', None)}


def test_a_result_json_cannot_hold_is_stored_as_that_analyzers_error(tmp_path: Path):
    photo = tmp_path / "a.jpg"
    outcome = _outcome(photo, {"odd": ("1", {"tags": {"a", "b"}}, None), "fine": ("1", {"é": 1}, None)})
    with Catalog(tmp_path / "c.db") as cat:
        cat.write_outcomes([outcome])
    rows = _rows(tmp_path / "c.db")
    version, data, error = rows[(str(photo), "odd")]
    assert data is None and error.startswith("result not storable as JSON (TypeError")
    assert rows[(str(photo), "fine")] == ("1", '{"é": 1}', None)        # ensure_ascii=False, as before
