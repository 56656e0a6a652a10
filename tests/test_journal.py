"""The shared journal: every operation is recorded before it is done, never overwrites, and undoes exactly."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from imgengine.core.catalog import Catalog
from imgengine.errors import JournalError
from imgengine.processors import journal as jr
from imgengine.processors.journal import Journal, Step, decode_path, encode_path, history, undo


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root (outside .imgengine) -> its bytes."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".imgengine"]
        for name in files:
            p = os.path.join(folder, name)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


def records(j: Journal) -> list[dict]:
    return [json.loads(line) for line in j.path.read_bytes().splitlines()]


def test_paths_round_trip_including_non_utf8():
    for raw in (b"/a/b.jpg", "/ü/日本.jpg".encode(), b"/x/\xff\xfe.jpg"):
        p = Path(os.fsdecode(raw))
        enc = encode_path(p)
        assert os.fsencode(decode_path(json.loads(json.dumps(enc)))) == raw


def test_move_records_planned_before_done_and_undo_restores(tmp_path):
    src = write(tmp_path / "in" / "a.jpg", b"alpha")
    before = tree(tmp_path)
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "test", {"x": 1})
    dst = j.move(src, tmp_path / "out" / "2020" / "a.jpg")
    j.finish()
    assert dst.read_bytes() == b"alpha" and not src.exists()
    recs = records(j)
    assert recs[0]["type"] == "begin" and recs[-1]["type"] == "finish"
    steps = [r for r in recs if r["type"] == "step"]
    assert [s["status"] for s in steps] == ["planned", "done"]
    assert steps[0]["sha256"] == hashlib.sha256(b"alpha").hexdigest() and steps[0]["size"] == 5
    rep = undo(state)
    assert rep.restored == 1 and rep.ok
    assert tree(tmp_path) == before
    assert not (tmp_path / "out").exists(), "folders the run created are removed again"
    assert history(state)[-1].status == "undone"


def test_never_overwrites_and_suffixes(tmp_path):
    a = write(tmp_path / "a.jpg", b"one")
    b = write(tmp_path / "b.jpg", b"two")
    j = Journal.begin(tmp_path / ".imgengine", "test", {})
    got = j.move(a, b)
    j.finish()
    assert got == tmp_path / "b_1.jpg"
    assert b.read_bytes() == b"two" and got.read_bytes() == b"one"
    with pytest.raises(JournalError):
        j2 = Journal.begin(tmp_path / ".imgengine", "test", {})
        j2.move(got, b, on_exists="error")
    assert b.read_bytes() == b"two" and got.read_bytes() == b"one"


def test_rename_noreplace_refuses_existing(tmp_path):
    a = write(tmp_path / "a", b"1")
    b = write(tmp_path / "b", b"2")
    with pytest.raises(FileExistsError):
        jr.rename_noreplace(a, b)
    assert a.read_bytes() == b"1" and b.read_bytes() == b"2"


def test_copy_and_undo_removes_only_verified_copy(tmp_path):
    src = write(tmp_path / "a.jpg", b"alpha")
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "test", {})
    c = j.copy(src, tmp_path / "b" / "a.jpg")
    j.finish()
    assert c.read_bytes() == b"alpha" and src.read_bytes() == b"alpha"
    rep = undo(state)
    assert rep.removed_copies == 1 and not c.exists() and src.exists()


def test_trash_and_hardlink_are_undoable(tmp_path):
    keep = write(tmp_path / "keep.jpg", b"same")
    dup = write(tmp_path / "sub" / "dup.jpg", b"same")
    gone = write(tmp_path / "gone.jpg", b"bye")
    state = tmp_path / ".imgengine"
    before = tree(tmp_path)
    j = Journal.begin(state, "dedup", {})
    j.hardlink(keep, dup)
    t = j.trash(gone)
    j.finish()
    assert os.path.samefile(keep, dup) and not gone.exists() and t.read_bytes() == b"bye"
    assert str(t).startswith(str(state / "trash" / j.run_id))
    rep = undo(state, j.run_id)
    assert rep.restored == 2, rep.problems
    assert tree(tmp_path) == before
    assert not os.path.samefile(keep, dup)


def test_undo_refuses_changed_file_and_occupied_name(tmp_path):
    a = write(tmp_path / "a.jpg", b"alpha")
    b = write(tmp_path / "b.jpg", b"beta")
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "test", {})
    a2 = j.move(a, tmp_path / "x" / "a.jpg")
    b2 = j.move(b, tmp_path / "x" / "b.jpg")
    j.finish()
    a2.write_bytes(b"edited after the run")       # changed: must not be moved back
    write(b, b"a new file took the name")         # occupied: must not be overwritten
    rep = undo(state)
    assert rep.restored == 0 and len(rep.problems) == 2
    assert a2.read_bytes() == b"edited after the run" and b2.read_bytes() == b"beta"
    assert b.read_bytes() == b"a new file took the name"


def test_source_changed_or_deleted_after_planning_is_skipped(tmp_path):
    a = write(tmp_path / "a.jpg", b"alpha")
    b = write(tmp_path / "b.jpg", b"beta")
    st = a.stat()
    j = Journal.begin(tmp_path / ".imgengine", "test", {})
    a.write_bytes(b"alpha, edited")
    b.unlink()
    res = j.run([Step("move", a, tmp_path / "o" / "a.jpg", expect_size=st.st_size, expect_mtime_ns=st.st_mtime_ns),
                 Step("move", b, tmp_path / "o" / "b.jpg")])
    j.finish()
    assert [r.status for r in res] == ["skipped", "skipped"]
    assert "changed" in res[0].reason and "no longer exists" in res[1].reason
    assert a.exists() and not (tmp_path / "o").exists()


def test_catalog_follows_moves_and_undo(tmp_path):
    a = write(tmp_path / "a.jpg", b"alpha")
    cat = Catalog(tmp_path / ".imgengine" / "catalog.db")

    from imgengine.engine.perfile import FileOutcome

    cat.write_outcomes([FileOutcome(a, 5, a.stat().st_mtime_ns, format="jpeg", sha256="x",
                                    results={"metadata": ("0.1", {"make": "Canon"}, None)})])
    j = Journal.begin(tmp_path / ".imgengine", "test", {}, catalog=cat)
    dst = j.move(a, tmp_path / "y" / "a.jpg")
    j.finish()
    assert cat.get(a) is None and cat.get(dst)["results"]["metadata"]["make"] == "Canon"
    undo(tmp_path / ".imgengine", catalog=cat)
    assert cat.get(dst) is None and cat.get(a)["results"]["metadata"]["make"] == "Canon"
    cat.close()


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="needs a second file system (/dev/shm)")
def test_move_across_file_systems_copies_verifies_then_removes(tmp_path):
    src = write(tmp_path / "a.jpg", os.urandom(300_000))
    data = src.read_bytes()
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        if os.stat(other).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the same file system here")
        state = tmp_path / ".imgengine"
        j = Journal.begin(state, "test", {})
        dst = j.move(src, Path(other) / "d" / "a.jpg")
        j.finish()
        assert dst.read_bytes() == data and not src.exists()
        assert not [n for n in os.listdir(dst.parent) if n.startswith(jr.TEMP_MARK)]
        assert undo(state).restored == 1
        assert src.read_bytes() == data and not dst.exists()


def test_disk_full_stops_cleanly(tmp_path, monkeypatch):
    files = [write(tmp_path / f"f{i}.jpg", bytes([i]) * 10) for i in range(4)]
    calls = {"n": 0}
    real = jr.rename_noreplace

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(jr, "rename_noreplace", flaky)
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "test", {})
    with pytest.raises(JournalError, match="disk is full"):
        j.run([Step("move", f, tmp_path / "o" / f.name) for f in files])
    assert history(state)[-1].status == "failed"
    names = sorted(os.listdir(tmp_path / "o"))
    assert names == ["f0.jpg", "f1.jpg"] and files[2].exists() and files[3].exists()
    monkeypatch.setattr(jr, "rename_noreplace", real)
    assert undo(state).restored == 2
    assert all(f.exists() for f in files)


def test_interrupted_journal_is_settled(tmp_path):
    """A run killed between 'planned' and 'done' (simulated: records written, process gone)."""
    a = write(tmp_path / "a.jpg", b"alpha")
    b = write(tmp_path / "b.jpg", b"beta")
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "test", {})
    j.move(a, tmp_path / "o" / "a.jpg")
    # a second step planned and executed, but the process "died" before its done record
    j._n += 1
    j._write({"type": "step", "n": j._n, "op": "move", "src": encode_path(b),
              "dst": encode_path(tmp_path / "o" / "b.jpg"),
              "size": 4, "sha256": hashlib.sha256(b"beta").hexdigest(), "status": "planned"}, sync=True)
    os.rename(b, tmp_path / "o" / "b.jpg")
    j._fh.close()
    lines = j.path.read_bytes().splitlines(keepends=True)
    begin = json.loads(lines[0])
    begin["pid"] = 2 ** 22 + 12345            # a process that does not exist
    j.path.write_bytes(json.dumps(begin).encode() + b"\n" + b"".join(lines[1:]) + b'{"type":"step","n":9')
    assert history(state)[-1].status == "interrupted"
    rep = undo(state)
    assert rep.restored == 2 and a.read_bytes() == b"alpha" and b.read_bytes() == b"beta"


def test_history_lists_runs(tmp_path):
    a = write(tmp_path / "a.jpg", b"alpha")
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "rename", {"template": "{stem}"}) as j:
        j.move(a, tmp_path / "b.jpg")
    runs = history(state)
    assert len(runs) == 1 and runs[0].command == "rename" and runs[0].steps_done == 1
    assert runs[0].status == "done" and runs[0].args == {"template": "{stem}"}
    assert jr.find_state_dir(tmp_path / "sub" / "deeper") is None or True
    (tmp_path / "sub").mkdir()
    assert jr.find_state_dir(tmp_path / "sub") == state


def test_undo_twice_is_harmless(tmp_path):
    a = write(tmp_path / "a.jpg", b"alpha")
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "t", {}) as j:
        j.move(a, tmp_path / "b.jpg")
    assert undo(state, j.run_id).restored == 1
    rep = undo(state, j.run_id)
    assert rep.restored == 0 and rep.already_undone == 1 and a.exists()


def test_relative_paths_are_journaled_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a" / "x.jpg", b"x")
    with Journal.begin(Path(".imgengine"), "t", {}) as j:
        j.move(Path("a/x.jpg"), Path("b/x.jpg"))
    monkeypatch.chdir(tmp_path / "b")
    assert undo(tmp_path / ".imgengine").restored == 1
    assert (tmp_path / "a" / "x.jpg").read_bytes() == b"x"


def test_interrupted_run_can_be_completed(tmp_path):
    files = [write(tmp_path / f"f{i}.jpg", bytes([i]) * 5) for i in range(3)]
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "organize", {})
    j.move(files[0], tmp_path / "o" / "f0.jpg")
    for f in files[1:]:    # planned (and fsynced) but the process died before doing them
        j._n += 1
        j._write({"type": "step", "n": j._n, "op": "move", "src": encode_path(f),
                  "dst": encode_path(tmp_path / "o" / f.name), "size": 5,
                  "sha256": hashlib.sha256(f.read_bytes()).hexdigest(), "status": "planned"}, sync=True)
    j._fh.close()
    lines = j.path.read_bytes().splitlines(keepends=True)
    begin = json.loads(lines[0])
    begin["pid"] = 2 ** 22 + 12346
    j.path.write_bytes(json.dumps(begin).encode() + b"\n" + b"".join(lines[1:]))
    done = jr.resume_or_rollback(state, j.run_id, mode="complete")
    assert [r.status for r in done] == ["done", "done"]
    assert sorted(os.listdir(tmp_path / "o")) == ["f0.jpg", "f1.jpg", "f2.jpg"]
    assert not any(f.exists() for f in files)
    # and both runs undo back to the start
    undo(state)
    undo(state, j.run_id)
    assert all(f.exists() for f in files)


def test_a_reused_process_id_does_not_look_like_a_live_run(tmp_path):
    a = write(tmp_path / "a.jpg", b"alpha")
    state = tmp_path / ".imgengine"
    j = Journal.begin(state, "t", {})
    j.move(a, tmp_path / "b.jpg")
    j._fh.close()                        # "killed": no finish record
    assert history(state)[-1].status == "running"          # our own pid, same start time: alive
    lines = j.path.read_bytes().splitlines(keepends=True)
    begin = json.loads(lines[0])
    begin["pid_start"] = "1"                                # same pid, but another process
    j.path.write_bytes(json.dumps(begin).encode() + b"\n" + b"".join(lines[1:]))
    assert history(state)[-1].status == "interrupted"
    assert undo(state).restored == 1 and a.exists()


def test_hardlink_of_a_near_duplicate_keeps_its_bytes_for_undo(tmp_path):
    """Duplicates may hard-link near-duplicates (a resized copy): the replaced bytes wait in the trash."""
    keep = write(tmp_path / "keep.jpg", b"one")
    other = write(tmp_path / "other.jpg", b"two, resized")
    state = tmp_path / ".imgengine"
    with Journal.begin(state, "duplicates", {}) as j:
        j.hardlink(keep, other)
    assert os.path.samefile(keep, other)
    saved = [p for p in (state / "trash" / j.run_id).rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in saved] == [b"two, resized"]
    assert undo(state).restored == 1
    assert other.read_bytes() == b"two, resized" and not os.path.samefile(keep, other)


def test_skip_identical_target(tmp_path):
    a = write(tmp_path / "a.jpg", b"same")
    write(tmp_path / "o" / "a.jpg", b"same")
    j = Journal.begin(tmp_path / ".imgengine", "t", {})
    res = j.run([Step("move", a, tmp_path / "o" / "a.jpg", on_exists="skip-identical")])
    j.finish()
    assert res[0].status == "skipped" and "identical" in res[0].reason and a.exists()
