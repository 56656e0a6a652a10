"""The journal's two writing operations: rewrite-in-place (original kept, undone byte-identically) and
write-new (a created file, undone by trashing it); both survive kill -9."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imgengine.errors import ImgEngineError, JournalError
from imgengine.processors.journal import Journal, Step, history, settle_interrupted, undo


def upper(data: bytes | None, tmp: Path) -> bytes:
    assert data is not None
    return data.upper()


def test_rewrite_in_place_and_undo_is_byte_identical(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello world")
    os.utime(f, ns=(1_000_000_000, 1_000_000_000))
    ino = f.stat().st_ino
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "tag", {}) as j:
        j.rewrite(f, upper)
        run_id = j.run_id
    assert f.read_bytes() == b"HELLO WORLD"
    assert f.stat().st_ino != ino                       # replaced, not written over
    backups = list((state / "backup" / run_id).rglob("a.txt"))
    assert backups and backups[0].read_bytes() == b"hello world"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".imgengine-tmp")]
    rep = undo(state, run_id)
    assert rep.ok and rep.restored == 1
    assert f.read_bytes() == b"hello world"
    assert f.stat().st_mtime_ns == 1_000_000_000        # the original inode's times came back too
    assert not (state / "backup" / run_id).exists()


def test_rewrite_skips_a_file_changed_since_planning_and_read_only_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    b.chmod(0o444)
    planned = hashlib.sha256(b"not what is there").hexdigest()
    with Journal.begin(tmp_path / ".imgengine", "tag", {}) as j:
        res = j.run([Step("rewrite", a, sha256=planned, produce=upper), Step("rewrite", b, produce=upper)])
    assert [r.status for r in res] == ["skipped", "skipped"]
    assert "changed since" in res[0].reason and "read-only" in res[1].reason
    assert a.read_bytes() == b"one" and b.read_bytes() == b"two"


def test_a_failing_producer_leaves_the_file_and_no_temp(tmp_path):
    f = tmp_path / "a"
    f.write_bytes(b"data")

    def boom(data, tmp):
        tmp.write_bytes(b"partial")
        raise ImgEngineError("EXIF is broken: refused")

    with Journal.begin(tmp_path / ".imgengine", "tag", {}) as j:
        (res,) = j.run([Step("rewrite", f, produce=boom)])
    assert res.status == "failed" and "refused" in res.reason
    assert f.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".imgengine", "a"]


def test_disk_full_during_the_write_keeps_the_original(tmp_path, monkeypatch):
    from imgengine.processors import journal as jr

    files = []
    for i in range(3):
        f = tmp_path / f"f{i}"
        f.write_bytes(b"data%d" % i)
        files.append(f)

    def full(paths):
        raise OSError(28, "No space left on device")

    j = Journal.begin(tmp_path / ".imgengine", "tag", {})
    monkeypatch.setattr(jr, "sync_files", full)        # the new contents cannot be made durable
    with pytest.raises(JournalError, match="disk is full"):
        j.run([Step("rewrite", f, produce=upper) for f in files])
    assert [f.read_bytes() for f in files] == [b"data0", b"data1", b"data2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".imgengine", "f0", "f1", "f2"]


def test_undo_refuses_a_file_changed_after_the_run(tmp_path):
    f = tmp_path / "a"
    f.write_bytes(b"abc")
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "tag", {}) as j:
        j.rewrite(f, upper)
    f.write_bytes(b"edited later")
    rep = undo(state)
    assert not rep.ok and "changed since the run" in rep.problems[0]
    assert f.read_bytes() == b"edited later"


def test_write_new_never_replaces_and_undo_trashes_it(tmp_path):
    src = tmp_path / "in.heic"
    src.write_bytes(b"source")
    taken = tmp_path / "in.jpg"
    taken.write_bytes(b"someone else's")
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "convert", {}) as j:
        out = j.write_new(src, tmp_path / "out" / "in.jpg", lambda data, tmp: b"converted")
        out2 = j.write_new(src, taken, lambda data, tmp: b"converted")
        run_id = j.run_id
    assert out.read_bytes() == b"converted" and out2.name == "in_1.jpg"
    assert taken.read_bytes() == b"someone else's"
    rep = undo(state, run_id)
    assert rep.ok and rep.removed_copies == 2
    assert not out.exists() and not out2.exists() and not (tmp_path / "out").exists()
    assert src.read_bytes() == b"source" and taken.read_bytes() == b"someone else's"
    assert list((state / "trash" / run_id).rglob("in.jpg"))          # trashed, not deleted


def test_write_new_undo_keeps_a_file_edited_since(tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"s")
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "convert", {}) as j:
        out = j.write_new(src, tmp_path / "out.jpg", lambda data, tmp: b"converted")
    out.write_bytes(b"edited")
    rep = undo(state)
    assert not rep.ok and out.read_bytes() == b"edited"


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from imgengine.processors.journal import Journal, Step
    root = Path(sys.argv[1])
    files = sorted(root.glob("f*.bin"))
    def slow(data, tmp):
        time.sleep(0.002)
        return data[::-1] + b"-new"
    j = Journal.begin(root / ".imgengine", "tag", {})
    print("started", flush=True)
    j.run([Step("rewrite", f, produce=slow) for f in files]
          + [Step("write-new", f, f.with_suffix(".out"), produce=slow) for f in files],
          progress=lambda r: print(r.status, flush=True), workers=int(sys.argv[2]))
    j.finish()
""")


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_mid_run_leaves_every_file_old_or_new_and_undo_restores(tmp_path, workers):
    originals = {}
    for i in range(300):
        f = tmp_path / f"f{i:03d}.bin"
        f.write_bytes(os.urandom(2000 + i))
        originals[f] = f.read_bytes()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path), str(workers)],
                            stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline().strip() == b"started"
    for _ in range(100):                      # killed in the middle of the first chunk's replacements
        assert proc.stdout.readline().strip() == b"done"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = tmp_path / ".imgengine"
    assert settle_interrupted(state)
    changed = 0
    for f, old in originals.items():
        now = f.read_bytes()
        assert now in (old, old[::-1] + b"-new")
        changed += now != old
    assert 0 < changed < len(originals)              # really killed mid-run
    assert not list(tmp_path.glob(".imgengine-tmp-*"))
    (run,) = history(state)
    assert run.status == "interrupted"
    rep = undo(state, run.run_id)
    assert rep.ok, rep.problems
    assert {f: f.read_bytes() for f in originals} == originals
    assert not list(tmp_path.glob("*.out"))


def test_threaded_staging_rewrites_every_file_and_undo_is_byte_identical(tmp_path):
    files = {}
    for i in range(40):
        f = tmp_path / f"f{i:02d}.bin"
        f.write_bytes(os.urandom(5000 + i))
        files[f] = f.read_bytes()
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "tag", {}) as j:
        res = j.run([Step("rewrite", f, produce=upper) for f in files], workers=4)
        run_id = j.run_id
    assert [r.status for r in res] == ["done"] * 40
    assert all(f.read_bytes() == old.upper() for f, old in files.items())
    assert undo(state, run_id).ok and {f: f.read_bytes() for f in files} == files


def test_a_file_replaced_while_its_new_content_is_made_is_not_touched(tmp_path):
    """Someone saves the photo (a new inode at the same name) while tag works on the copy it read: the
    journal refuses to replace the newer file and keeps no backup of it."""
    f = tmp_path / "a.jpg"
    f.write_bytes(b"as read")

    def meanwhile(data, tmp):
        side = tmp_path / "saved-by-an-editor"
        side.write_bytes(b"the user's newer edit")
        os.replace(side, f)
        return data.upper()

    state = tmp_path / ".imgengine"
    with Journal.begin(state, "tag", {}) as j:
        (res,) = j.run([Step("rewrite", f, produce=meanwhile)])
    assert res.status == "failed" and "changed while" in res.reason
    assert f.read_bytes() == b"the user's newer edit"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".imgengine-tmp")]
    assert not any((state / "backup").rglob("a.jpg"))


def test_settle_keeps_the_backup_of_a_file_that_holds_neither_old_nor_new_bytes(tmp_path):
    """After a crash the journal says a rewrite was staged; the file holds something else (a failing disk,
    or an edit during the crash): settling reports it and keeps the original in the backup."""
    import json as _json

    f = tmp_path / "a.jpg"
    f.write_bytes(b"original")
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "tag", {}) as j:
        j.rewrite(f, upper)
        run_id, path = j.run_id, j.path
    recs = [_json.loads(x) for x in path.read_text().splitlines()]
    recs = [r for r in recs if r["type"] != "finish" and not (r["type"] == "step" and r["status"] == "done")]
    recs[0]["pid"] = 999999999                             # as if killed before "done": its process is gone
    path.write_text("".join(_json.dumps(r) + "\n" for r in recs))
    f.write_bytes(b"something else")
    assert settle_interrupted(state) == [run_id]
    (backup,) = (state / "backup" / run_id).rglob("a.jpg")
    assert backup.read_bytes() == b"original"
    steps = [_json.loads(x) for x in path.read_text().splitlines() if '"step"' in x]
    assert steps[-1]["status"] == "failed" and "neither" in steps[-1]["reason"]


def test_a_producer_bug_in_a_thread_stops_the_run_with_nothing_changed_and_no_temp_left(tmp_path):
    files = []
    for i in range(6):
        f = tmp_path / f"f{i}.bin"
        f.write_bytes(b"data %d" % i)
        files.append(f)

    def buggy(data, tmp):
        if data.endswith(b"3"):
            raise RuntimeError("a bug in a plugin's producer")
        return data.upper()

    state = tmp_path / ".imgengine"
    with pytest.raises(RuntimeError), Journal.begin(state, "tag", {}) as j:
        j.run([Step("rewrite", f, produce=buggy) for f in files], workers=2)
    assert [f.read_bytes() for f in files] == [b"data %d" % i for i in range(6)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".imgengine-tmp")]
    assert not any((state / "backup").rglob("*.bin"))
    (run,) = history(state)
    assert run.status == "failed" and run.steps_done == 0
