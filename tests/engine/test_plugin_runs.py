"""Plugin analyzers in real runs: results in catalog/JSON/CSV, incremental re-runs on config change, and a
plugin that raises, returns the wrong type, hangs or fails to import costs only itself."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.core.catalog import Catalog
from imgengine.engine.run import run_analysis
from imgengine.logs.session import fingerprint  # noqa: F401 - the module under test writes these records

from ..conftest import write_jpeg
from ..plugins.helpers import BRIGHTNESS_PLUS, BROKEN_IMPORT, FLAKY, SLEEPY, line_of, write_plugin


def photos(root: Path, n: int = 4) -> Path:
    for i in range(n):
        write_jpeg(root / f"p{i}.jpg", size=(900, 600), seed=i)
    return root


def by_name(cat_path: Path, analyzer: str) -> dict[str, dict]:
    with Catalog(cat_path) as cat:
        return {Path(rec["path"]).name: rec["results"].get(analyzer) for rec in cat.iter_records()}


def errors(log_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (log_dir / "errors.jsonl").read_text().splitlines()]


def test_folder_plugin_results_config_and_incremental(tmp_path: Path, settings):
    root = photos(tmp_path / "photos", 3)
    write_plugin(tmp_path / "plug", "bright", BRIGHTNESS_PLUS)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), vision=False)
    r = run_analysis(root, s)
    assert r.summary["failed"] == 0 and "brightness_plus" in r.summary["analyzers"]
    got = by_name(s.catalog, "brightness_plus")
    content = by_name(s.catalog, "content")
    assert got["p0.jpg"]["value"] == pytest.approx(content["p0.jpg"]["brightness"] * 2)
    assert got["p0.jpg"]["pixels_long_side"] == 700     # pixel_size: the one decode is at 700 px
    assert content["p0.jpg"]["sharpness"] > 0
    # unchanged: nothing runs; a config change re-runs that analyzer (and what it reads) only
    assert run_analysis(root, s).summary["analyzed"] == 0
    s3 = s.replace(plugins={"brightness_plus": {"factor": "3"}})  # text, as from the environment
    r = run_analysis(root, s3)
    assert r.summary["analyzed"] == 3
    want = pytest.approx(content["p1.jpg"]["brightness"] * 3)
    assert by_name(s.catalog, "brightness_plus")["p1.jpg"]["value"] == want
    assert by_name(s.catalog, "metadata")["p1.jpg"]["_version"] == "2"
    assert run_analysis(root, s3).summary["analyzed"] == 0


def test_plugin_in_cli_json_csv_and_env_config(tmp_path: Path, monkeypatch):
    root = photos(tmp_path / "photos", 2)
    write_plugin(tmp_path / "plugins", "bright", BRIGHTNESS_PLUS)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"IMGENGINE_PLUGINS__BRIGHTNESS_PLUS__FACTOR": "10", "IMGENGINE_VISION": "0",
           "IMGENGINE_LOG_DIR": str(tmp_path / "logs"), "IMGENGINE_WORKERS": "1"}
    out = runner.invoke(app, ["analyze", str(root), "-o", str(tmp_path / "out.csv"), "-q"], env=env)
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert rows[0]["bright_x"] and float(rows[0]["bright_x"]) > 0
    out = runner.invoke(app, ["analyze", str(root), "--json", "--analyzers", "metadata,brightness_plus"], env=env)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    res = doc["photos"][0]["results"]
    assert res["brightness_plus"]["value"] == pytest.approx(res["content"]["brightness"] * 10)
    # --no-plugin leaves it out (its stored result stays); an unknown config section is one warning
    cfg = tmp_path / "c.yaml"
    cfg.write_text("plugins:\n  not_installed: {x: 1}\nmystery_key: 2\n")
    out = runner.invoke(app, ["analyze", str(root), "--no-plugin", "bright", "--force", "--config", str(cfg)],
                        env=env)
    assert out.exit_code == 0, out.output
    assert out.output.count("not_installed") == 1 and out.output.count("mystery_key") == 1


def test_raising_and_wrong_type_plugin_cost_only_its_results(tmp_path: Path, settings):
    root = photos(tmp_path / "photos", 4)
    plugin = write_plugin(tmp_path / "plug", "flaky", FLAKY)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), vision=False)
    r = run_analysis(root, s)
    assert r.summary["analyzed"] == 4 and r.summary["failed"] == 3   # p1, p3 raise; p2 returns an int
    flaky = by_name(s.catalog, "flaky")
    assert flaky["p0.jpg"] == {"ok": True, "stem": "p0", "_version": "1"}
    assert flaky["p1.jpg"]["_error"] == "ValueError: cannot handle p1"
    assert "returned int, not a Result or dict" in flaky["p2.jpg"]["_error"]
    for name in ("p1.jpg", "p2.jpg", "p3.jpg"):   # the other analyzers' results are intact
        assert by_name(s.catalog, "content")[name]["quality"] and by_name(s.catalog, "hashes")[name]["sha256"]
    recs = [e for e in errors(s.log_dir) if e["stage"] == "flaky"]
    assert len(recs) == 3
    raised = [e for e in recs if e["exception_type"] == "ValueError"]
    assert {e["plugin"] for e in recs} == {"flaky"} and {e["plugin_version"] for e in recs} == {"1.0"}
    assert {e["source_file"] for e in raised} == {str(plugin)}
    assert {e["source_line"] for e in raised} == {line_of(plugin, "FLAKY-RAISE")}
    assert len({e["fingerprint"] for e in raised}) == 1     # one bug, one group, whatever the photo
    for key in ("run_id", "time", "file", "stage", "exception_type", "message", "traceback", "source"):
        assert key in recs[0]


def test_hanging_plugin_times_out_and_the_run_goes_on(tmp_path: Path, settings):
    root = photos(tmp_path / "photos", 2)
    plugin = write_plugin(tmp_path / "plug", "sleepy", SLEEPY)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), vision=False,
                         plugins={"sleepy": {"timeout": 0.5}})
    r = run_analysis(root, s)
    assert r.summary["failed"] == 1 and r.summary["ok"] == 1
    sleepy = by_name(s.catalog, "sleepy")
    assert sleepy["p0.jpg"]["_error"] == "timed out after 0.5s" and sleepy["p1.jpg"]["slept"] is False
    assert by_name(s.catalog, "content")["p0.jpg"]["quality"]
    rec = [e for e in errors(s.log_dir) if e["stage"] == "sleepy"][0]
    assert rec["exception_type"] == "AnalyzerTimeout" and rec["source_line"] == line_of(plugin, "SLEEPY-SLEEP")
    assert r.summary["seconds"] < 20
    # the timeout is part of no result version: changing it re-runs nothing
    assert run_analysis(root, s.replace(plugins={"sleepy": {"timeout": 5}})).summary["analyzed"] == 0


def test_plugin_that_fails_to_import_is_logged_and_the_run_goes_on(tmp_path: Path, settings):
    root = photos(tmp_path / "photos", 2)
    write_plugin(tmp_path / "plug", "broken", BROKEN_IMPORT)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), vision=False)
    r = run_analysis(root, s)
    assert r.summary["ok"] == 2 and r.summary["plugin_problems"][0].startswith("broken: failed to import")
    log = (s.log_dir / f"{r.run_id}.log").read_text()
    assert "plugin broken (folder" in log and "ModuleNotFoundError" in log
    events = [json.loads(x) for x in (s.log_dir / f"{r.run_id}.json").read_text().splitlines()]
    assert any("imgengine_no_such_dependency" in (e.get("traceback") or "") for e in events)


def test_plugin_in_the_process_pool(tmp_path: Path, settings):
    root = photos(tmp_path / "photos", 6)
    write_plugin(tmp_path / "plug", "flaky", FLAKY)
    write_plugin(tmp_path / "plug", "bright", BRIGHTNESS_PLUS)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), vision=False, workers=2)
    r = run_analysis(root, s)
    assert r.summary["analyzed"] == 6 and r.summary["failed"] == 3
    assert len([v for v in by_name(s.catalog, "brightness_plus").values() if v and "value" in v]) == 6


def test_stage_context_pickles_as_a_recipe_for_spawned_workers(tmp_path: Path, settings):
    import pickle

    from imgengine.engine.executors import StageContext
    from imgengine.engine.run import select_analyzers

    write_plugin(tmp_path / "plug", "bright", BRIGHTNESS_PLUS)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), plugins={"brightness_plus": {"factor": 5}})
    chosen = {n: a for n, a in select_analyzers(s).items() if n in ("content", "brightness_plus")}
    ctx = pickle.loads(pickle.dumps(StageContext(s, chosen, {}, {}, "r1")))
    assert list(ctx.analyzers) == ["content", "brightness_plus"]
    assert ctx.analyzers["brightness_plus"].config == {"factor": 5}


def test_cli_shows_each_plugin_failure_as_one_line(tmp_path: Path):
    import os
    import subprocess
    import sys

    root = photos(tmp_path / "photos", 4)
    write_plugin(tmp_path / "plugins", "flaky", FLAKY)
    write_plugin(tmp_path / "plugins", "broken", BROKEN_IMPORT)
    code = "import sys; from imgengine.cli.app import main; sys.argv[0] = 'imgengine'; main()"
    p = subprocess.run([sys.executable, "-c", code, "analyze", str(root), "--no-vision", "-w", "1",
                        "--log-dir", str(tmp_path / "logs")], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "COLUMNS": "250"})
    assert p.returncode == 1
    assert "Traceback" not in p.stdout + p.stderr
    failed = [line for line in p.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 3 and any("[flaky]" in x and "ValueError: cannot handle p1" in x for x in failed)
    assert sum("plugin broken (folder)" in line for line in p.stderr.splitlines()) == 1


def test_per_file_analyzer_cannot_require_a_batch_analyzer(tmp_path: Path, settings):
    root = photos(tmp_path / "photos", 1)
    write_plugin(tmp_path / "plug", "needs_clip", '''
from imgengine.analyzers.base import Analyzer
from imgengine.plugins import hookimpl


class NeedsClip(Analyzer):
    name = "needs_clip"
    requires = ("clip",)

    def analyze(self, item):
        return {"scene": item.results["clip"]["scenes"][0]["label"]}


@hookimpl
def register_analyzers():
    return [NeedsClip]
''')
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), vision=False)
    r = run_analysis(root, s)
    assert r.summary["ok"] == 1 and "needs_clip" not in r.summary["analyzers"]
    assert "cannot require the batch analyzer(s) clip" in r.summary["warnings"][0]
