"""`imgengine organize`: layouts, events, companions, copy/move, bad input, and a real kill -9 mid-apply."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.core.catalog import Catalog
from imgengine.engine.perfile import FileOutcome
from imgengine.engine.run import run_analysis
from imgengine.processors.journal import Journal, history, undo
from imgengine.processors.organize import plan_organize
from imgengine.processors.plan import apply_plan

try:  # the fixture makers live with the rename tests
    from .test_rename import SETTINGS, make_jpeg, snapshot
except ImportError:
    from test_rename import SETTINGS, make_jpeg, snapshot

runner = CliRunner()


def files_below(root: Path) -> list[str]:
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".imgengine"]
        out.extend(os.path.relpath(os.path.join(folder, f), root) for f in files)
    return sorted(out)


def organize(src: Path, dest: Path, catalog: Catalog | None = None, **kw):
    plan = plan_organize(src, dest, SETTINGS, catalog, **kw)
    j = Journal.begin(dest / ".imgengine", "organize", {}, catalog)
    results = apply_plan(plan, j)
    j.finish()
    return plan, results


def test_by_date_default_layout_copy_keeps_source(tmp_path):
    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "a.jpg", "2019:07:04 18:32:11")
    make_jpeg(src / "deep" / "b.jpg", "2020:01:02 03:04:05")
    make_jpeg(src / "IMG_20180506_070809.jpg")
    before = snapshot(src)
    _plan, results = organize(src, lib)          # default: copy
    assert all(r.status == "done" for r in results)
    assert files_below(lib) == ["2018/05/IMG_20180506_070809.jpg", "2019/07/a.jpg", "2020/01/b.jpg"]
    assert snapshot(src) == before
    # organising again: everything is recognised as already there
    plan2 = plan_organize(src, lib, SETTINGS, None)
    assert plan2.todo == [] and all("identical file already" in a.note for a in plan2.actions)
    rep = undo(lib / ".imgengine")
    assert rep.removed_copies == 3 and files_below(lib) == [] and snapshot(src) == before


def test_move_with_layout_and_template_then_undo(tmp_path):
    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "IMG_0001.JPG", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D")
    (src / "IMG_0001.xmp").write_text("<xmp/>")
    make_jpeg(src / "IMG_0002.JPG", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D", color=(0, 0, 1))
    before = snapshot(src)
    _plan, _results = organize(src, lib, op="move", layout="{date:%Y}/{date:%Y-%m-%d}",
                             template="{date:%H%M%S}_{camera}{seq}")
    assert files_below(lib) == ["2019/2019-07-04/183211_Canon EOS 5D-1.jpg",
                                "2019/2019-07-04/183211_Canon EOS 5D-1.xmp",
                                "2019/2019-07-04/183211_Canon EOS 5D-2.jpg"]
    assert files_below(src) == []
    undo(lib / ".imgengine")
    assert snapshot(src) == before and not (lib / "2019").exists()


def test_by_camera_and_by_tag(tmp_path):
    src = tmp_path / "in"
    make_jpeg(src / "a.jpg", "2019:07:04 18:32:11", make="NIKON CORPORATION", model="NIKON D750")
    make_jpeg(src / "b.jpg", "2019:07:04 18:32:11", color=(1, 1, 1))
    plan = plan_organize(src, tmp_path / "lib", SETTINGS, None, by="camera")
    assert sorted(os.path.relpath(a.dst, tmp_path / "lib") for a in plan.todo) == ["NIKON D750/a.jpg",
                                                                                  "unknown camera/b.jpg"]
    run_analysis(src, SETTINGS.replace(analyzers=("metadata",)))
    cat = Catalog(src / ".imgengine" / "catalog.db")
    rec = cat.get(src / "a.jpg")
    cat.write_outcomes([FileOutcome(src / "a.jpg", rec["size"], rec["mtime_ns"], format="jpeg",
                                    replace_results=False,
                                    results={"clip": ("1", {"scenes": [{"label": "beach", "score": 0.8},
                                                                        {"label": "sea", "score": 0.1}]}, None)})])
    plan = plan_organize(src, tmp_path / "lib", SETTINGS, cat, by="tag")
    assert sorted(os.path.relpath(a.dst, tmp_path / "lib") for a in plan.todo) == ["beach/a.jpg", "untagged/b.jpg"]
    cat.close()


def test_events_by_time_gaps_and_gps(tmp_path):
    src = tmp_path / "in"
    # day trip: three photos within hours; next morning 300 km away after a 2 h gap; a week later
    make_jpeg(src / "1.jpg", "2019:07:04 10:00:00", gps=(48.85, 2.35), color=(1, 0, 0))
    make_jpeg(src / "2.jpg", "2019:07:04 12:30:00", gps=(48.86, 2.34), color=(2, 0, 0))
    make_jpeg(src / "3.jpg", "2019:07:04 15:00:00", color=(3, 0, 0))
    make_jpeg(src / "4.jpg", "2019:07:04 17:00:00", gps=(45.76, 4.83), color=(4, 0, 0))    # Lyon, 390 km
    make_jpeg(src / "5.jpg", "2019:07:05 09:00:00", gps=(45.75, 4.84), color=(5, 0, 0))
    make_jpeg(src / "6.jpg", "2019:07:12 09:00:00", color=(6, 0, 0))
    plan = plan_organize(src, tmp_path / "lib", SETTINGS, None, by="event")
    where = {a.src.name: os.path.relpath(a.dst.parent, tmp_path / "lib") for a in plan.todo}
    assert where["1.jpg"] == where["2.jpg"] == where["3.jpg"] == "2019/2019-07-04"
    assert where["4.jpg"] == "2019/2019-07-04 (2)"      # 2 h later but 390 km away: a new event, same day
    assert where["5.jpg"] == "2019/2019-07-05"          # 16 h later: a new event
    assert where["6.jpg"] == "2019/2019-07-12"


def test_live_photo_raw_pair_and_sidecars_move_together(tmp_path):
    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "IMG_1.HEIC.jpg", "2019:07:04 18:32:11")    # (a JPEG standing in for the photo)
    make_jpeg(src / "DSC9.JPG", "2018:01:01 10:00:00")
    (src / "DSC9.NEF").write_bytes(b"MM\x00*" + b"\x00" * 64)
    (src / "DSC9.JPG.xmp").write_text("<xmp/>")
    make_jpeg(src / "IMG_7.jpg", "2020:02:02 10:00:00")
    (src / "IMG_7.mov").write_bytes(b"\x00\x00\x00\x14ftypqt  ")
    (src / "IMG_7.aae").write_text("<plist/>")
    organize(src, lib, op="move")
    assert files_below(lib) == ["2018/01/DSC9.JPG", "2018/01/DSC9.JPG.xmp", "2018/01/DSC9.NEF",
                                "2019/07/IMG_1.HEIC.jpg", "2020/02/IMG_7.aae", "2020/02/IMG_7.jpg", "2020/02/IMG_7.mov"]


def test_dest_inside_source_is_not_rescanned(tmp_path):
    src = tmp_path / "photos"
    make_jpeg(src / "a.jpg", "2019:07:04 18:32:11")
    organize(src, src / "sorted", op="move")
    assert files_below(src) == ["sorted/2019/07/a.jpg"]
    plan = plan_organize(src, src / "sorted", SETTINGS, None, op="move")
    assert plan.actions == []


def test_read_only_source_is_copied_not_moved(tmp_path, monkeypatch):
    src, lib = tmp_path / "ro", tmp_path / "lib"
    make_jpeg(src / "a.jpg", "2019:07:04 18:32:11")
    import imgengine.processors.plan as plan_mod
    real = os.access
    monkeypatch.setattr(plan_mod.os, "access",
                        lambda p, mode, **kw: False if Path(p) == src and mode == os.W_OK else real(p, mode, **kw))
    plan, _results = organize(src, lib, op="move")
    assert plan.todo[0].op == "copy" and "read-only" in plan.todo[0].note
    assert (src / "a.jpg").exists() and (lib / "2019" / "07" / "a.jpg").exists()


def test_source_changed_or_deleted_after_planning(tmp_path):
    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "a.jpg", "2019:07:04 18:32:11")
    make_jpeg(src / "b.jpg", "2019:07:04 18:32:11", color=(0, 1, 0))
    make_jpeg(src / "c.jpg", "2019:07:04 18:32:11", color=(0, 2, 0))
    plan = plan_organize(src, lib, SETTINGS, None, op="move")
    time.sleep(0.01)
    with open(src / "a.jpg", "ab") as f:
        f.write(b"edited")
    (src / "b.jpg").unlink()
    j = Journal.begin(lib / ".imgengine", "organize", {})
    res = {r.src.name: r for r in apply_plan(plan, j)}
    j.finish()
    assert res["a.jpg"].status == "skipped" and "changed" in res["a.jpg"].reason
    assert res["b.jpg"].status == "skipped" and "no longer exists" in res["b.jpg"].reason
    assert res["c.jpg"].status == "done"
    assert (src / "a.jpg").read_bytes().endswith(b"edited")


def test_catalog_follows_into_the_library(tmp_path):
    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "a.jpg", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D")
    run_analysis(src, SETTINGS.replace(analyzers=("metadata",)))
    cat = Catalog(src / ".imgengine" / "catalog.db")
    organize(src, lib, cat, op="move")
    rec = cat.get(lib / "2019" / "07" / "a.jpg")
    assert rec is not None and rec["results"]["metadata"]["model"] == "Canon EOS 5D"
    # a plan of the library from the same catalog needs no re-reading
    plan = plan_organize(lib, tmp_path / "lib2", SETTINGS, cat, by="camera")
    assert plan.todo[0].dst == tmp_path / "lib2" / "Canon EOS 5D" / "a.jpg"
    cat.close()


def test_cli_bad_input_one_line_exit_2(tmp_path):
    make_jpeg(tmp_path / "in" / "a.jpg", "2019:07:04 18:32:11")
    (tmp_path / "file").write_text("x")
    cases = [
        (["organize", str(tmp_path / "missing"), str(tmp_path / "lib")], "no such folder"),
        (["organize", str(tmp_path / "in"), str(tmp_path / "file")], "not a folder"),
        (["organize", str(tmp_path / "in"), str(tmp_path / "lib"), "--copy", "--move"], "choose one"),
        (["organize", str(tmp_path / "in"), str(tmp_path / "lib"), "--by", "colour"], "--by"),
        (["organize", str(tmp_path / "in"), str(tmp_path / "lib"), "--layout", "../{date:%Y}"], ".."),
        (["organize", str(tmp_path / "in"), str(tmp_path / "lib"), "--shift-time", "soon"], "--shift-time"),
        (["undo", "--dir", str(tmp_path / "in")], "no imgengine runs"),
    ]
    for args, text in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert text in r.output, (args, r.output)
    assert not (tmp_path / "lib").exists()


def test_cli_organize_apply_history_undo(tmp_path):
    src, lib = tmp_path / "in", tmp_path / "lib"
    for i in range(3):
        make_jpeg(src / f"IMG_{i}.jpg", f"2019:07:0{i + 1} 10:00:00", color=(i, 0, 0))
    before = snapshot(src)
    r = runner.invoke(app, ["organize", str(src), str(lib), "--move", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["summary"]["to_change"] == 3
    assert snapshot(src) == before and not lib.exists()
    r = runner.invoke(app, ["organize", str(src), str(lib), "--move", "--apply"])
    assert r.exit_code == 0, r.output
    assert "undo with" in r.output and len(files_below(lib)) == 3
    r = runner.invoke(app, ["history", "--dir", str(lib)])
    assert r.exit_code == 0 and "organize" in r.output
    run_id = history(lib / ".imgengine")[-1].run_id
    r = runner.invoke(app, ["history", run_id[-6:], "--dir", str(lib), "--json"])
    steps = json.loads(r.stdout)["steps"]
    assert [s["status"] for s in steps] == ["done"] * 3 and all(s["op"] == "move" for s in steps)
    r = runner.invoke(app, ["undo", "--dir", str(lib), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["restored"] == 3
    assert snapshot(src) == before


# -- kill -9 in the middle of a real apply ----------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    import imgengine.processors.journal as jr
    real = jr.rename_noreplace
    def slow(src, dst):
        time.sleep(0.004)          # slow enough that the parent can kill us mid-run
        return real(src, dst)
    jr.rename_noreplace = slow
    from imgengine.cli.app import main
    sys.argv = ["imgengine", "organize", sys.argv[1], sys.argv[2], "--move", "--apply", "--quiet",
                "--template", "{date:%Y%m%d_%H%M%S}{seq}"]
    main()
""")


def _hashes(root: Path) -> list[str]:
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".imgengine"]
        out.extend(hashlib.sha256(Path(folder, f).read_bytes()).hexdigest() for f in files)
    return sorted(out)


def _kill_mid_apply(tmp_path: Path, n: int = 200) -> tuple[Path, Path, dict, list[str]]:
    src, lib = tmp_path / "in", tmp_path / "lib"
    for i in range(n):
        make_jpeg(src / f"IMG_{i:04d}.jpg", f"2019:07:04 10:{i // 60:02d}:{i % 60:02d}", color=(i % 256, i // 256, 7))
        if i % 10 == 0:
            (src / f"IMG_{i:04d}.xmp").write_text(f"<xmp n='{i}'/>")
    before = snapshot(src)
    hashes = _hashes(src)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(src), str(lib)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    jdir = lib / ".imgengine" / "journal"
    deadline = time.time() + 30
    while time.time() < deadline:
        js = list(jdir.glob("*.jsonl")) if jdir.is_dir() else []
        if js and js[0].read_bytes().count(b'"status":"done"') >= n // 4:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    # every byte is still somewhere, nothing twice, no temporary files
    assert sorted(_hashes(src) + _hashes(lib)) == hashes
    assert 0 < len(files_below(lib)) < len(before)
    return src, lib, before, hashes


def test_kill_9_mid_apply_then_undo_restores_everything(tmp_path):
    src, lib, before, _hashes_before = _kill_mid_apply(tmp_path)
    assert history(lib / ".imgengine")[-1].status == "interrupted"
    rep = undo(lib / ".imgengine")
    assert rep.ok, rep.problems
    assert snapshot(src) == before
    assert files_below(lib) == []


def test_kill_9_mid_apply_then_rerun_finishes_cleanly(tmp_path):
    src, lib, before, hashes = _kill_mid_apply(tmp_path)
    r = runner.invoke(app, ["organize", str(src), str(lib), "--move", "--apply", "--quiet",
                            "--template", "{date:%Y%m%d_%H%M%S}{seq}"])
    assert r.exit_code == 0, r.output
    assert files_below(src) == []
    assert _hashes(lib) == hashes
    runs = history(lib / ".imgengine")
    assert [r.status for r in runs] == ["interrupted", "done"]
    # and both runs can be undone, newest first, back to the very first state
    undo(lib / ".imgengine", runs[1].run_id)
    undo(lib / ".imgengine", runs[0].run_id)
    assert snapshot(src) == before


def test_dates_in_1970_and_future_go_by_next_source(tmp_path):
    src = tmp_path / "in"
    make_jpeg(src / "a.jpg", "1970:01:01 00:00:00", mtime=datetime(2015, 6, 1, 12).timestamp())
    make_jpeg(src / "IMG_20160101_101010.jpg", "2099:01:01 00:00:00")
    plan = plan_organize(src, tmp_path / "lib", SETTINGS, None)
    got = {a.src.name: (os.path.relpath(a.dst, tmp_path / "lib"), a.date.source) for a in plan.todo}
    assert got["a.jpg"] == ("2015/06/a.jpg", "mtime")
    assert got["IMG_20160101_101010.jpg"] == ("2016/01/IMG_20160101_101010.jpg", "filename")
    assert all("1971" in a.note or "future" in a.note for a in plan.todo)


@pytest.mark.skipif(not Path("../shared/corpus").is_dir(), reason="needs ../shared/corpus")
def test_corpus_plan_has_a_date_for_every_readable_photo(tmp_path):
    plan = plan_organize(Path("../shared/corpus"), tmp_path / "lib", SETTINGS, None)
    photos = [a for a in plan.actions if a.role == "photo"]
    assert photos and all(a.date is not None for a in photos)
    assert all(str(a.dst).startswith(str(tmp_path / "lib")) for a in plan.actions)


@pytest.fixture
def tiny_fs(tmp_path):
    """A real 1 MiB file system (tmpfs) to fill up; skipped where mounting is not allowed."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                           check=False, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("cannot mount a tmpfs here")
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False, capture_output=True, timeout=10)


def test_target_disk_full_mid_run_loses_nothing(tmp_path, tiny_fs):
    from PIL import Image
    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):       # ~175 KB each of noise: the 1 MiB target fills after a few
        img = Image.frombytes("RGB", (384, 384), os.urandom(384 * 384 * 3))
        img.save(src / f"IMG_{i:02d}.jpg", quality=95)
    before = snapshot(src)
    hashes = sorted(hashlib.sha256(v).hexdigest() for v in before.values())
    r = runner.invoke(app, ["organize", str(src), str(tiny_fs / "lib"), "--move", "--apply", "--quiet",
                            "--state-dir", str(tmp_path / "state")])
    assert r.exit_code == 1 and "disk is full" in r.output, r.output
    assert sorted(_hashes(src) + _hashes(tiny_fs / "lib")) == hashes
    left = [n for _d, _s, fs in os.walk(tiny_fs) for n in fs if ".imgengine-tmp-" in n]
    assert left == [], "no temporary copies are left behind"
    assert 0 < len(files_below(tiny_fs / "lib")) < 12
    assert history(tmp_path / "state")[-1].status == "failed"
    rep = undo(tmp_path / "state")
    assert rep.ok and snapshot(src) == before


def test_undated_photos_get_one_folder(tmp_path):
    src = tmp_path / "in"
    make_jpeg(src / "a.jpg", "1970:01:01 00:00:00")
    os.utime(src / "a.jpg", (0, 0))               # and its mtime is 1970 too
    plan = plan_organize(src, tmp_path / "lib", SETTINGS, None)
    assert plan.todo[0].dst == tmp_path / "lib" / "undated" / "a.jpg"
    assert "1971" in plan.todo[0].note


def test_reorganize_in_place_removes_emptied_folders_and_undo_brings_them_back(tmp_path):
    lib = tmp_path / "lib"
    make_jpeg(lib / "2019" / "07" / "a.jpg", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D")
    make_jpeg(lib / "2020" / "01" / "b.jpg", "2020:01:01 10:00:00", color=(0, 0, 9))
    (lib / "keep-empty").mkdir()                      # an empty folder the run did not empty: stays
    organize(lib, lib, op="move", layout="{date:%Y}/{camera|\"unknown\"}")
    assert files_below(lib) == ["2019/Canon EOS 5D/a.jpg", "2020/unknown/b.jpg"]
    assert not (lib / "2019" / "07").exists() and not (lib / "2020" / "01").exists()
    assert (lib / "keep-empty").is_dir()
    undo(lib / ".imgengine")
    assert files_below(lib) == ["2019/07/a.jpg", "2020/01/b.jpg"]
    assert not (lib / "2019" / "Canon EOS 5D").exists() and (lib / "keep-empty").is_dir()


def test_library_catalog_receives_the_analysis_and_undo_takes_it_back(tmp_path):
    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "a.jpg", "2019:07:04 18:32:11", make="Canon", model="Canon EOS 5D")
    make_jpeg(src / "b.jpg", "2020:01:01 10:00:00", color=(0, 0, 9))
    run_analysis(src, SETTINGS.replace(analyzers=("metadata", "hashes")))
    r = runner.invoke(app, ["organize", str(src), str(lib), "--apply", "--quiet"])      # copy
    assert r.exit_code == 0, r.output
    with Catalog(lib / ".imgengine" / "catalog.db") as lib_cat:
        rec = lib_cat.get(lib / "2019" / "07" / "a.jpg")
        assert rec["results"]["metadata"]["model"] == "Canon EOS 5D" and rec["sha256"]
        assert lib_cat.count() == 2
    # analysing the library now finds nothing to do: no re-analysis
    result = run_analysis(lib, SETTINGS.replace(analyzers=("metadata", "hashes")))
    assert result.summary["analyzed"] == 0 and result.summary["skipped_unchanged"] == 2
    r = runner.invoke(app, ["undo", "--dir", str(lib)])
    assert r.exit_code == 0, r.output
    with Catalog(lib / ".imgengine" / "catalog.db") as lib_cat:
        assert lib_cat.count() == 0


def test_shift_time_is_written_into_the_filed_photos_through_the_tag_writer_and_undone(tmp_path):
    """`organize --shift-time` fixes the camera clock in the filed photos' metadata (the writer of
    `tag --shift-time`), in the same journal run, so one undo restores the source byte for byte."""
    from imgengine.analyzers.metadata import read_metadata

    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "a.jpg", "2019:12:31 23:30:00", create="2019:12:31 23:30:00")
    before = snapshot(src)
    res = runner.invoke(app, ["organize", str(src), str(lib), "--move", "--shift-time", "+1h", "--apply",
                              "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["results"]["done"] == 1 and doc["results"]["times_shifted"] == 1
    filed = lib / "2020" / "01" / "a.jpg"             # filed by the shifted date ...
    meta = read_metadata(filed)
    assert meta.datetime_original.startswith("2020-01-01T00:30:00")   # ... and the metadata says so too
    assert meta.create_date.startswith("2020-01-01T00:30:00")
    (run,) = history(lib / ".imgengine")
    assert run.command == "organize" and run.steps_done == 2        # the move and the rewrite
    rep = undo(lib / ".imgengine", run.run_id)
    assert rep.ok, rep.problems
    assert snapshot(src) == before and not filed.exists()


def test_shift_time_with_copy_leaves_the_source_untouched(tmp_path):
    from imgengine.analyzers.metadata import read_metadata

    src, lib = tmp_path / "in", tmp_path / "lib"
    make_jpeg(src / "a.jpg", "2021:06:01 10:00:00")
    before = snapshot(src)
    plan, results = organize(src, lib, shift=__import__("datetime").timedelta(minutes=-30))
    assert [r.op for r in results if r.status == "done"] == ["copy", "rewrite"]
    assert snapshot(src) == before
    assert read_metadata(lib / "2021" / "06" / "a.jpg").datetime_original.startswith("2021-06-01T09:30:00")
