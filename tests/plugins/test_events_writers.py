"""Event hooks and output writers from plugins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.engine.run import run_analysis

from ..conftest import write_jpeg
from .helpers import write_plugin

LISTENER = '''
    import json
    import os
    from pathlib import Path

    from imgengine.plugins import hookimpl

    OUT = Path(os.environ["EVENTS_OUT"])


    def _log(**event):
        with OUT.open("a") as fh:
            fh.write(json.dumps(event, default=str) + "\\n")


    @hookimpl
    def run_started(run):
        _log(event="started", run_id=run.run_id, analyzers=run.analyzers)


    @hookimpl
    def photo_analyzed(path, results):
        _log(event="photo", path=str(path), quality=(results.get("content") or {}).get("quality"))


    @hookimpl
    def file_moved(src, dst):
        _log(event="moved", src=str(src), dst=str(dst))


    @hookimpl
    def run_finished(run, summary):
        _log(event="finished", run_id=run.run_id, analyzed=summary["analyzed"])
        raise RuntimeError("a listener that fails costs nothing else")
'''

TSV = '''
    from imgengine.plugins import hookimpl


    class TsvWriter:
        name = "tsv"
        extensions = (".tsv",)

        def write(self, records, target, context):
            with open(target, "w", encoding="utf-8") as fh:
                fh.write("path\\tquality\\n")
                for r in records:
                    fh.write(f"{r['display_path']}\\t{r['results'].get('content', {}).get('quality')}\\n")


    @hookimpl
    def register_writers():
        return [TsvWriter()]
'''


def test_event_hooks(tmp_path: Path, settings, monkeypatch):
    root = tmp_path / "photos"
    for i in range(3):
        write_jpeg(root / f"p{i}.jpg", size=(160, 120), seed=i)
    out = tmp_path / "events.jsonl"
    monkeypatch.setenv("EVENTS_OUT", str(out))
    write_plugin(tmp_path / "plug", "listener", LISTENER)
    s = settings.replace(plugin_dirs=(str(tmp_path / "plug"),), vision=False)
    r = run_analysis(root, s)
    events = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["event"] for e in events] == ["started", "photo", "photo", "photo", "finished"]
    assert events[0]["analyzers"] == ["metadata", "content", "hashes"] and events[0]["run_id"] == r.run_id
    assert all(e["quality"] for e in events[1:4]) and events[-1]["analyzed"] == 3
    assert "run_finished raised RuntimeError" in (s.log_dir / f"{r.run_id}.log").read_text()
    # a move found by sha256 is an event too
    (root / "sub").mkdir()
    shutil.move(root / "p1.jpg", root / "sub" / "p1.jpg")
    out.unlink()
    run_analysis(root, s)
    moved = [json.loads(x) for x in out.read_text().splitlines() if '"moved"' in x]
    assert len(moved) == 1 and moved[0]["dst"] == str(root / "sub" / "p1.jpg")


def test_plugin_writer_by_extension(tmp_path: Path, monkeypatch):
    root = tmp_path / "photos"
    write_jpeg(root / "a.jpg", size=(160, 120))
    write_plugin(tmp_path / "plugins", "tsv", TSV)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    env = {"IMGENGINE_VISION": "0", "IMGENGINE_LOG_DIR": str(tmp_path / "logs"), "IMGENGINE_WORKERS": "1"}
    res = runner.invoke(app, ["analyze", str(root), "-o", str(tmp_path / "out.tsv"), "-q"], env=env)
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0] == "path\tquality" and lines[1].endswith(("excellent", "good", "average", "poor"))
    res = runner.invoke(app, ["analyze", str(root), "-o", str(tmp_path / "out.xml")], env=env)
    assert res.exit_code == 2 and ".tsv" in res.output
