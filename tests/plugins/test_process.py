"""Processors from plugins (`imgengine process`) and journal moves as `file_moved` events, end to end with
plugin-folder plugins imported by the real manager."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.core.catalog import Catalog
from imgengine.errors import UsageError
from imgengine.processors.journal import Journal, Step, undo
from imgengine.processors.process import ProcessorError, check_steps, plan_processor

from ..conftest import write_jpeg
from .helpers import write_plugin

SMALL = '''
    """Moves photos narrower than min_width into a "small" folder beside them."""
    from pathlib import Path

    from imgengine.plugins import hookimpl
    from imgengine.processors.journal import Step

    __version__ = "0.2"


    class SmallPhotos:
        name = "small-photos"
        description = "photos under min_width pixels into small/"

        def plan(self, records, settings):
            min_width = settings.plugins["small-photos"]["min_width"]
            steps = []
            for rec in records:
                width = (rec["results"].get("metadata") or {}).get("upright_width") or 0
                if width < min_width:
                    src = Path(rec["path"])
                    steps.append(Step("move", src, src.parent / "small" / src.name,
                                      meta={"note": f"{width} px wide"}))
            return steps


    @hookimpl
    def register_processors():
        return [SmallPhotos()]


    @hookimpl
    def config_defaults():
        return {"small-photos": {"min_width": 500}}
'''

RECORDER = '''
    import json
    import os

    from imgengine.plugins import hookimpl


    @hookimpl
    def file_moved(src, dst, kind):
        with open(os.environ["EVENTS_OUT"], "a") as fh:
            fh.write(json.dumps({"src": str(src), "dst": str(dst), "kind": kind,
                                 "dst_exists": os.path.exists(dst), "src_exists": os.path.exists(src)}) + "\\n")
'''

GRUMPY = '''
    from imgengine.plugins import hookimpl


    @hookimpl
    def file_moved(src, dst):
        raise RuntimeError("grumpy listener")
'''

ENV = {"IMGENGINE_VISION": "0", "IMGENGINE_WORKERS": "1"}


def _events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.fixture
def library(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "photos"
    write_jpeg(root / "a0.jpg", size=(160, 120), seed=0)
    write_jpeg(root / "a1.jpg", size=(800, 600), seed=1)
    write_jpeg(root / "sub" / "a2.jpg", size=(200, 150), seed=2)
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "small_photos", SMALL)
    write_plugin(plugins, "recorder", RECORDER)
    write_plugin(plugins, "grumpy", GRUMPY)
    monkeypatch.chdir(tmp_path)   # ./plugins/ is a plugin folder
    monkeypatch.setenv("EVENTS_OUT", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("IMGENGINE_LOG_DIR", str(tmp_path / "logs"))
    res = CliRunner().invoke(app, ["analyze", str(root), "-q"], env=ENV)
    assert res.exit_code == 0, res.output
    return root


def test_process_previews_applies_and_undoes_through_the_journal(library: Path, tmp_path: Path):
    runner = CliRunner()
    before = {p: p.read_bytes() for p in library.rglob("*.jpg")}
    events = tmp_path / "events.jsonl"

    res = runner.invoke(app, ["process", "--json"], env=ENV)
    assert res.exit_code == 0, res.output
    listed = {r["name"]: r for r in json.loads(res.stdout)}
    assert listed["small-photos"]["plugin"] == "small_photos"
    assert listed["small-photos"]["runs"] == "imgengine process small-photos"
    assert "albums" in listed and "process" not in listed["albums"]["runs"]   # a processor without a plan
    res = runner.invoke(app, ["plugins", "list", "--json"], env=ENV)
    info = {p["name"]: p for p in json.loads(res.stdout)["plugins"]}["small_photos"]
    assert info["processors"] == ["small-photos"] and "processor" in info["categories"]
    assert info["config_defaults"] == {"small-photos": {"min_width": 500}} and info["version"] == "0.2"

    # the preview changes nothing
    res = runner.invoke(app, ["process", "small-photos", str(library)], env=ENV)
    assert res.exit_code == 0, res.output
    assert "nothing changed" in res.output and "a0.jpg" in res.output and "a1.jpg" not in res.output
    assert {p: p.read_bytes() for p in library.rglob("*.jpg")} == before and not _events(events)

    res = runner.invoke(app, ["process", "small-photos", str(library), "--apply", "--json"], env=ENV)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["applied"] and doc["results"]["done"] == 2 and doc["summary"]["photos"] == 3
    moved = {library / "small" / "a0.jpg", library / "sub" / "small" / "a2.jpg"}
    assert all(p.is_file() for p in moved)
    assert not (library / "a0.jpg").exists() and (library / "a1.jpg").is_file()
    with Catalog(library / ".imgengine" / "catalog.db") as cat:     # the catalog followed the moves
        assert all(cat.get(p) is not None for p in moved) and cat.get(library / "a0.jpg") is None
    # file_moved: once per moved file, after the move; a listener that raises is one warning line
    ev = _events(events)
    assert sorted((e["kind"], Path(e["dst"])) for e in ev) == sorted(("move", p) for p in moved)
    assert all(e["dst_exists"] and not e["src_exists"] for e in ev)
    assert "plugin grumpy: file_moved raised RuntimeError: grumpy listener (for 2 files)" in res.stderr

    res = runner.invoke(app, ["undo", doc["run_id"], "--state-dir", str(library / ".imgengine")], env=ENV)
    assert res.exit_code == 0, res.output
    assert "2 file(s) restored" in res.stdout
    assert {p: p.read_bytes() for p in library.rglob("*.jpg")} == before
    ev = _events(events)[2:]
    assert sorted((e["kind"], Path(e["src"]), Path(e["dst"])) for e in ev) == sorted(
        [("undo", library / "small" / "a0.jpg", library / "a0.jpg"),
         ("undo", library / "sub" / "small" / "a2.jpg", library / "sub" / "a2.jpg")])


def test_process_config_section_and_usage_errors(library: Path, tmp_path: Path):
    runner = CliRunner()
    env = ENV
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("plugins:\n  small-photos:\n    min_width: 190\n")
    res = runner.invoke(app, ["process", "small-photos", str(library), "--json", "--config", str(cfg)], env=ENV)
    assert res.exit_code == 0, res.output
    assert [Path(s["src"]).name for s in json.loads(res.stdout)["steps"]] == ["a0.jpg"]
    res = runner.invoke(app, ["process", "nope", str(library)], env=env)
    assert res.exit_code == 2 and "no processor named 'nope'" in res.output and "small-photos" in res.output
    res = runner.invoke(app, ["process", "small-photos"], env=env)
    assert res.exit_code == 2 and "name the analysed folders" in res.output
    res = runner.invoke(app, ["process", "albums", str(library)], env=env)
    assert res.exit_code == 2 and "albums refresh" in res.output
    res = runner.invoke(app, ["process", "small-photos", str(tmp_path / "elsewhere")], env=env)
    assert res.exit_code == 2 and "no such file or folder" in res.output


def test_rename_organize_and_duplicates_fire_file_moved(library: Path, tmp_path: Path):
    runner = CliRunner()
    events = tmp_path / "events.jsonl"
    res = runner.invoke(app, ["rename", str(library), "-t", "x{seq}", "--apply", "-q"], env=ENV)
    assert res.exit_code == 0, res.output
    ev = _events(events)
    assert len(ev) == 3 and {e["kind"] for e in ev} == {"move"}
    assert all(Path(e["dst"]).is_file() and Path(e["dst"]).name.startswith("x") for e in ev)
    # a copy moves nothing: no event
    res = runner.invoke(app, ["organize", str(library), str(tmp_path / "lib"), "--apply", "-q"], env=ENV)
    assert res.exit_code == 0, res.output
    assert len(_events(events)) == 3
    res = runner.invoke(app, ["organize", str(library), str(tmp_path / "lib2"), "--move", "--apply", "-q"], env=ENV)
    assert res.exit_code == 0, res.output
    assert len(_events(events)) == 6


def test_journal_announces_moves_and_trash_once_and_survives_a_failing_listener(tmp_path: Path):
    heard: list[tuple[Path, Path, str]] = []

    def listener(src, dst, kind):
        heard.append((src, dst, kind))
        if src.name == "b.jpg":
            raise ValueError("listener bug")

    a = write_jpeg(tmp_path / "in" / "a.jpg", size=(64, 48))
    b = write_jpeg(tmp_path / "in" / "b.jpg", size=(64, 48), seed=1)
    c = write_jpeg(tmp_path / "in" / "c.jpg", size=(64, 48), seed=2)
    state = tmp_path / "state"
    with Journal.begin(state, "test", {}, on_moved=listener) as j:
        results = j.run([Step("move", a, tmp_path / "out" / "a.jpg"), Step("move", b, tmp_path / "out" / "b.jpg"),
                         Step("copy", c, tmp_path / "out" / "c.jpg"), Step("trash", c)])
    assert [r.status for r in results] == ["done"] * 4
    assert [(s.name, d.name, k) for s, d, k in heard] == [("a.jpg", "a.jpg", "move"), ("b.jpg", "b.jpg", "move"),
                                                          ("c.jpg", "c.jpg", "trash")]
    assert (tmp_path / "out" / "b.jpg").is_file() and not b.exists()      # the failing listener broke nothing
    assert len(j.event_problems) == 1 and "ValueError: listener bug" in j.event_problems[0]
    heard.clear()
    report = undo(state, j.run_id, on_moved=listener)
    assert report.ok and report.restored == 3 and a.is_file() and b.is_file() and c.is_file()
    assert sorted((d.name, k) for _s, d, k in heard) == [("a.jpg", "undo"), ("b.jpg", "undo"), ("c.jpg", "undo")]
    assert len(report.event_problems) == 1


def test_processor_plans_are_checked(tmp_path: Path):
    root = tmp_path / "photos"
    a = write_jpeg(root / "a.jpg", size=(64, 48))
    outside = write_jpeg(tmp_path / "other" / "o.jpg", size=(64, 48))
    rec = {"path": a, "size": a.stat().st_size, "mtime_ns": a.stat().st_mtime_ns, "sha256": "ab" * 32}
    steps, refused = check_steps([Step("move", a, root / "b.jpg"), Step("move", outside, root / "o.jpg"),
                                  Step("explode", a), Step("copy", a), Step("rewrite", a)], [root], [rec], "p")
    assert len(steps) == 1 and steps[0].expect_size == rec["size"] and steps[0].sha256 == rec["sha256"]
    assert [r for _p, r in refused] == [
        "outside the folders and files named on the command line; left alone",
        "unknown operation 'explode' (use move, copy, hardlink, trash, rewrite, write-new)",
        "a copy step needs a destination", "a rewrite step needs a produce function"]
    with pytest.raises(ProcessorError, match="not an imgengine.processors.journal.Step"):
        check_steps([("move", a, root / "b.jpg")], [root], [rec], "p")

    class Broken:
        name = "broken"

        def plan(self, records, settings):
            raise KeyError("width")

    class NoPlan:
        name = "noplan"

    with Catalog(tmp_path / "cat.db") as cat:
        with pytest.raises(ProcessorError, match=r"'broken' \(plugin x\) failed to plan: KeyError: 'width' "
                           rf"\(at {__file__}:\d+\); nothing was changed"):
            plan_processor(Broken(), "x", [root], None, cat)
        with pytest.raises(UsageError, match="makes no plan"):
            plan_processor(NoPlan(), "x", [root], None, cat)


def test_moves_of_a_killed_run_are_announced_when_it_is_settled(tmp_path: Path):
    """The process died after a rename but before its done record (and before announcing it): the next
    journal on that state folder settles the run and announces that move, once."""
    import hashlib
    import os

    from imgengine.processors.journal import encode_path

    b = write_jpeg(tmp_path / "b.jpg", size=(32, 24))
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "test", {})
    j._n += 1
    j._write({"type": "step", "n": j._n, "op": "move", "src": encode_path(b), "dst": encode_path(tmp_path / "o.jpg"),
              "size": b.stat().st_size, "sha256": hashlib.sha256(b.read_bytes()).hexdigest(), "status": "planned"},
             sync=True)
    os.rename(b, tmp_path / "o.jpg")
    j._fh.close()
    lines = j.path.read_bytes().splitlines(keepends=True)
    begin = json.loads(lines[0])
    begin["pid"] = 2 ** 22 + 12347            # a process that does not exist
    j.path.write_bytes(json.dumps(begin).encode() + b"\n" + b"".join(lines[1:]))
    heard: list[tuple[Path, Path, str]] = []
    with Journal.begin(state, "next", {}, on_moved=lambda s, d, k: heard.append((s, d, k))):
        pass
    assert heard == [(b, tmp_path / "o.jpg", "move")]
    with Journal.begin(state, "again", {}, on_moved=lambda s, d, k: heard.append((s, d, k))):
        pass
    assert len(heard) == 1


def test_duplicates_delete_and_move_fire_file_moved(library: Path, tmp_path: Path):
    import shutil

    runner = CliRunner()
    events = tmp_path / "events.jsonl"
    shutil.copy2(library / "a1.jpg", library / "a1 copy.jpg")
    shutil.copy2(library / "a0.jpg", library / "sub" / "a0 copy.jpg")
    res = runner.invoke(app, ["duplicates", str(library), "--exact-only", "--delete", "--confirm", "delete",
                              "--apply", "-q"], env=ENV)
    assert res.exit_code == 0, res.output
    ev = _events(events)
    assert len(ev) == 2 and {e["kind"] for e in ev} == {"trash"}
    assert all(".imgengine/trash/" in e["dst"] and e["dst_exists"] and not e["src_exists"] for e in ev)
    res = runner.invoke(app, ["undo", "--state-dir", str(library / ".imgengine")], env=ENV)
    assert res.exit_code == 0, res.output
    assert [e["kind"] for e in _events(events)[2:]] == ["undo", "undo"]
    res = runner.invoke(app, ["duplicates", str(library), "--exact-only", "--move-to", str(tmp_path / "dups"),
                              "--apply", "-q"], env=ENV)
    assert res.exit_code == 0, res.output
    ev = _events(events)[4:]
    assert len(ev) == 2 and {e["kind"] for e in ev} == {"move"}
    assert all(Path(e["dst"]).parent.is_relative_to(tmp_path / "dups") for e in ev)
