"""The journal every file-changing command applies through, so that every change can be undone.

One run of a command (rename, organize, the duplicate actions) is one journal file,
``<state_dir>/journal/<run-id>.jsonl``. Each line is a JSON record:

* ``{"type": "begin", run_id, command, args, started_at, pid, catalog}``
* ``{"type": "step", "n", "op", "src", "dst", "size", "sha256", "status": "planned"}`` — written and
  fsynced BEFORE the operation is done; ``sha256`` is the source's content before the operation.
* ``{"type": "step", "n", "status": "done", "dst", "how", "mkdirs"}`` after it is done (``dst`` is the
  path really used; ``mkdirs`` the folders the step created), or ``"skipped"``/``"failed"`` with a reason.
* ``{"type": "step", "n", "status": "undone"}`` when ``undo`` reverted it (so an interrupted undo resumes).
* ``{"type": "staged", "n", "new_sha256", "sha256"}`` (``rewrite``/``write-new``): the new content is
  complete in a temporary file and the original is kept; these records, the temporary files and the backup
  links are made durable together (one ``syncfs``) before anything is put in place; settling a crash
  compares the file on disk with these hashes to tell "old bytes" from "new bytes" (a file is never
  half-written).
* ``{"type": "rmdir", "path"}`` (a source folder a move emptied and removed; undo recreates it) and
  ``{"type": "catalog_export", "catalog", "paths"}`` (records copied into the library's catalog).
* ``{"type": "finish", "status": "done"|"failed"|"interrupted", ...}`` and ``{"type": "undo", ...}``.

Using it (every file-changing processor)::

    with Journal.begin(state_dir, "dedup", {"keep": "oldest"}, catalog) as j:   # finish() on exit
        j.move(src, dst)          # -> the path really used (a free "_1" name if dst appeared meanwhile)
        j.copy(src, dst)
        j.hardlink(keeper, dup)   # dup's own bytes wait in <state_dir>/trash/<run-id>/ until undo/purge
        j.trash(path)             # "delete", undoable
        j.rewrite(path, produce)  # new content in place (temp -> fsync -> os.replace); original kept for undo
        j.write_new(src, dst, produce)   # a created file (convert output, new sidecar); undo trashes it
        j.run([Step(...), ...], workers=N)   # many steps: one fsync per 256 planned records; new contents
                                             # made in N threads, made durable by one syncfs per chunk
    undo(state_dir, run_id, catalog); history(state_dir); resume_or_rollback(state_dir, run_id, mode)

Rewriting in place (``rewrite``, used by ``tag`` and ``scrub --in-place``): the original is hard-linked
(or, across file systems, copied and verified) to ``<state_dir>/backup/<run-id>/<absolute path>`` before the
new bytes replace it, so undo checks that the file still holds what the run wrote and puts the original
bytes back, byte-identical. ``write-new`` (``convert``, new sidecars) creates a file that did not exist
(never replacing one); undo moves it to the trash after checking it is unchanged.

The catalog follows: a move updates its path (``Catalog.move_path``), a trashed photo leaves the
catalog (its record is kept in the journal, undo puts it back), and undo reverts both.

Listeners (``on_moved``, e.g. the plugins' ``file_moved`` hook): every file the journal moves — a move, a
trash, an undo putting one back, a killed run's move found done when it is settled — is announced once as
``on_moved(src, dst, kind)`` (kind ``move`` | ``trash`` | ``undo``), after the move is durable (folder
entries and the journal's done record fsynced). A listener that raises is recorded in ``event_problems``
and costs nothing else: the move stands.

Paths are stored as UTF-8 strings when the file-system bytes decode as UTF-8, otherwise as
``{"b64": ...}`` of the raw bytes, so that non-UTF-8 names round-trip exactly.

Safety rules: nothing is ever overwritten (same file system: ``renameat2(RENAME_NOREPLACE)``, or
``link`` + ``unlink``; another file system: copy to a temporary file in the target folder, fsync,
verify sha256, link into place without replacing, then unlink the source). Undo walks the done steps
backwards and checks each file's sha256 before moving it back, and never overwrites either.

A run that was killed (no ``finish`` record, its process gone) is *settled* the next time anything
opens the state folder: each step that was planned but not recorded as done is checked on disk and
recorded as done or not done, so that ``undo`` and a re-run both see the truth.

Where the state lives: ``<folder>/.imgengine/`` of the folder the command changes (``rename DIR``: DIR;
``organize SRC DEST``: DEST, the library), or ``--state-dir`` / ``IMGENGINE_STATE_DIR``. ``imgengine undo``
and ``imgengine history`` look in ``--dir`` (default the current folder) and its parents for
``.imgengine/journal``.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from ..core.atomic import fsync_dir, remove_quietly
from ..core.catalog import Catalog
from ..core.filehash import sha256_of  # noqa: F401 - re-exported for the processors
from ..core.photo import display_path
from ..errors import CatalogError, ImgEngineError, JournalError
from . import run_index

JOURNAL_VERSION = 1
TEMP_MARK = ".imgengine-tmp-"
CHUNK = 256           # steps whose "planned" records share one fsync in Journal.run

MoveListener = Callable[[Path, Path, str], None]   # on_moved(src, dst, kind): see "Listeners" above

# -- paths in JSON ------------------------------------------------------------------------------------


def encode_path(path: os.PathLike | str | bytes) -> str | dict[str, str]:
    raw = os.fsencode(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(raw).decode("ascii")}


def decode_path(value: str | dict[str, str] | None) -> Path | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return Path(os.fsdecode(base64.b64decode(value["b64"])))
    return Path(os.fsdecode(value.encode("utf-8", "surrogateescape")))


# -- low-level file operations ------------------------------------------------------------------------

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _load_renameat2() -> Callable[[bytes, bytes], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def call(src: bytes, dst: bytes) -> int:
        if fn(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
            return 0
        return ctypes.get_errno()

    return call


_renameat2 = _load_renameat2()


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_syncfs = _load_syncfs()


def _load_sync_file_range() -> Callable[[int], None] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    fn.restype = ctypes.c_int
    write = 2                                   # SYNC_FILE_RANGE_WRITE: start write-back, do not wait

    def start(fd: int) -> None:
        fn(fd, 0, 0, write)

    return start


_sync_file_range = _load_sync_file_range()


def _start_writeback(fd: int) -> None:
    """Let the disk start on a new file now (Linux), so that the chunk's one ``syncfs`` later has little
    left to wait for. Only a hint: durability still comes from that sync."""
    if _sync_file_range is not None:
        _sync_file_range(fd)


def sync_files(paths: list[Path]) -> None:
    """Make the content of many new files durable at once: one ``syncfs`` per file system (Linux) instead
    of one fsync per file, which on a journaling file system costs a commit each."""
    done_devs: set[int] = set()
    for path in paths:
        try:
            dev = os.stat(path).st_dev
        except OSError:
            continue
        if _syncfs is not None and dev in done_devs:
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            if _syncfs is not None and _syncfs(fd) == 0:
                done_devs.add(dev)
            else:
                os.fsync(fd)
        finally:
            os.close(fd)


def _is_case_only_rename(src: Path, dst: Path) -> bool:
    """True when dst "exists" only because the file system ignores case and dst *is* src."""
    if src.name == dst.name or src.name.casefold() != dst.name.casefold():
        return False
    try:
        return os.path.samefile(src, dst) and os.path.samefile(src.parent, dst.parent)
    except OSError:
        return False


def rename_noreplace(src: Path, dst: Path) -> str:
    """Rename without ever replacing ``dst``; returns how. Raises FileExistsError, or OSError(EXDEV)."""
    s, d = os.fsencode(src), os.fsencode(dst)
    if _renameat2 is not None:
        err = _renameat2(s, d)
        if err == 0:
            return "rename"
        if err == errno.EEXIST and _is_case_only_rename(src, dst):
            return _case_only_rename(src, dst)
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            raise OSError(err, os.strerror(err), display_path(src), None, display_path(dst))
    # no renameat2 here (or this file system refuses it): link + unlink never replaces either
    try:
        os.link(s, d)
    except FileExistsError:
        if _is_case_only_rename(src, dst):
            return _case_only_rename(src, dst)
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise
        # no hard links on this file system (FAT, some network shares): check, then rename
        if os.path.lexists(d):
            if _is_case_only_rename(src, dst):
                return _case_only_rename(src, dst)
            raise FileExistsError(errno.EEXIST, "file exists", display_path(dst))
        os.rename(s, d)
        return "rename-checked"
    os.unlink(s)
    return "link"


def move_noreplace(src: Path, dst: Path, expect_sha256: str | None) -> str:
    """Move without ever replacing ``dst``: a rename, or across file systems a verified copy (see
    :func:`copy_verified`) and then the source removed. Returns how. Raises FileExistsError."""
    try:
        return rename_noreplace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    copy_verified(src, dst, expect_sha256)
    os.unlink(src)
    return "copy+unlink"


def _case_only_rename(src: Path, dst: Path) -> str:
    """``IMG.JPG`` -> ``img.jpg`` on a case-insensitive file system: through a temporary name."""
    tmp = src.with_name(f"{TEMP_MARK}case-{secrets.token_hex(4)}-{src.name}")
    os.rename(src, tmp)
    try:
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "file exists", display_path(dst))
        os.rename(tmp, dst)
    except BaseException:
        os.rename(tmp, src)
        raise
    return "case-rename"


def copy_verified(src: Path, dst: Path, expect_sha256: str | None, sync_folder: bool = True) -> str:
    """Copy to a temporary file in dst's folder, fsync, verify sha256, then put it in place without
    replacing anything. Returns the sha256 of the copy. The temporary file is removed on failure.
    ``sync_folder``: also fsync the folder entry (needed before a source is removed; a plain copy
    leaves its source in place, so it can skip that)."""
    tmp = dst.with_name(f"{TEMP_MARK}{secrets.token_hex(4)}-{dst.name}"[:255])
    h = hashlib.sha256()
    try:
        with open(src, "rb", buffering=0) as fin, open(tmp, "xb", buffering=0) as fout:
            while chunk := fin.read(1 << 20):
                h.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[fout.write(view):]
            fout.flush()
            os.fsync(fout.fileno())
        digest = h.hexdigest()
        if expect_sha256 is not None and digest != expect_sha256:
            raise JournalError(f"{display_path(src)} changed while it was being copied; left in place")
        again = sha256_of(tmp)
        if again != digest:
            raise JournalError(f"copy of {display_path(src)} does not read back identically "
                               f"(failing disk?); source left in place")
        try:
            shutil.copystat(src, tmp)
        except OSError:
            pass
        rename_noreplace(tmp, dst)
        if sync_folder:
            fsync_dir(dst.parent)
        return digest
    except BaseException:
        remove_quietly(tmp)
        raise


def _makedirs(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return those created (outermost first)."""
    created: list[Path] = []
    p = folder
    while not p.exists():
        created.append(p)
        if p.parent == p:
            break
        p = p.parent
    created.reverse()
    for d in created:
        try:
            os.mkdir(d)
        except FileExistsError:
            pass
    return created


def next_free_name(dst: Path, taken: Callable[[Path], bool] | None = None) -> Path:
    """``name.jpg`` -> ``name_1.jpg``, ``name_2.jpg`` ... the first that does not exist (and is not taken)."""
    stem, suffix = split_ext(dst.name)
    for i in range(1, 100000):
        cand = dst.with_name(fit_name(stem, f"_{i}{suffix}"))
        if not os.path.lexists(cand) and not (taken and taken(cand)):
            return cand
    raise JournalError(f"no free name next to {display_path(dst)}")


def split_ext(name: str) -> tuple[str, str]:
    i = name.rfind(".")
    if i <= 0:
        return name, ""
    return name[:i], name[i:]


def fit_name(stem: str, tail: str, limit: int = 255) -> str:
    """Shorten ``stem`` (on a character boundary) so that ``stem + tail`` fits in ``limit`` bytes."""
    budget = limit - len(os.fsencode(tail))
    raw = os.fsencode(stem)
    if len(raw) <= budget:
        return stem + tail
    cut = raw[:max(budget, 1)]
    while cut:
        try:
            return cut.decode("utf-8") + tail
        except UnicodeDecodeError:
            cut = cut[:-1]
    return os.fsdecode(raw[:max(budget, 1)]) + tail


# -- records ------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One operation of a plan. ``expect_size``/``expect_mtime_ns``: the source as planned (a source
    changed or deleted since planning is skipped, not touched). ``sha256``: when already known (catalog)."""

    op: str                       # move | copy | hardlink | trash | rewrite | write-new
    src: Path
    dst: Path | None = None
    sha256: str | None = None
    expect_size: int | None = None
    expect_mtime_ns: int | None = None
    on_exists: str = "suffix"     # suffix | skip-identical | error
    meta: dict[str, Any] = field(default_factory=dict)
    # rewrite / write-new: produce(data, tmp) makes the new content. It gets the source's bytes (rewrite;
    # None for write-new) and a temporary path; it returns the new bytes (the journal writes them to tmp)
    # or None after writing tmp itself (ExifTool, encoders). Raise ImgEngineError to fail the step.
    produce: Callable[[bytes | None, Path], bytes | None] | None = None


@dataclass
class StepResult:
    n: int
    op: str
    src: Path
    dst: Path | None
    status: str                   # done | skipped | failed
    reason: str | None = None
    how: str | None = None


def by_status(results: Iterable[StepResult]) -> tuple[list[StepResult], list[StepResult], list[StepResult]]:
    """A run's step results as (done, skipped, failed), each in step order."""
    out: dict[str, list[StepResult]] = {"done": [], "skipped": [], "failed": []}
    for r in results:
        out[r.status].append(r)
    return out["done"], out["skipped"], out["failed"]


@dataclass
class RunInfo:
    run_id: str
    command: str
    args: dict[str, Any]
    started_at: float
    finished_at: float | None
    status: str                   # done | failed | interrupted | running | undone | partly-undone
    steps_done: int
    steps_undone: int
    path: Path
    catalog: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "command": self.command, "args": self.args,
                "started_at": self.started_at, "finished_at": self.finished_at, "status": self.status,
                "steps_done": self.steps_done, "steps_undone": self.steps_undone,
                "journal": display_path(self.path)}


@dataclass
class UndoReport:
    run_id: str
    restored: int = 0
    removed_copies: int = 0
    already_undone: int = 0
    problems: list[str] = field(default_factory=list)
    dirs_removed: int = 0
    event_problems: list[str] = field(default_factory=list)   # listeners that raised; the undo stands

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "restored": self.restored, "removed_copies": self.removed_copies,
                "already_undone": self.already_undone, "dirs_removed": self.dirs_removed,
                "problems": self.problems}


def _absolute(step: Step) -> Step:
    """Journals hold absolute paths, so that undo works from any folder."""
    step.src = Path(os.path.abspath(step.src))
    if step.dst is not None:
        step.dst = Path(os.path.abspath(step.dst))
    return step


def journal_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "journal"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime()) + "-" + secrets.token_hex(3)


def _kept_path(state_dir: Path, store: str, run_id: str, path: Path) -> Path:
    """Where a run keeps a file it took away (``trash``) or the original of one it rewrote (``backup``):
    ``<state_dir>/<store>/<run-id>/<absolute path>``."""
    return Path(state_dir) / store / run_id / os.fsdecode(os.fsencode(os.path.abspath(path)).lstrip(b"/"))


def _jdump(rec: dict[str, Any]) -> bytes:
    return (json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def announce_moves(on_moved: MoveListener | None, moved: list[tuple[Path, Path, str]],
                   problems: list[str]) -> None:
    """Tell ``on_moved`` about moves that are done: first make their folder entries durable (the caller
    has fsynced the journal), then one call per file. What a listener raises goes to ``problems``."""
    if on_moved is None or not moved:
        return
    try:    # one syncfs per file system (Linux) rather than one fsync per folder: one journal commit
        sync_files(sorted({p.parent for src, dst, _kind in moved for p in (src, dst)}))
    except OSError:
        pass
    for src, dst, kind in moved:
        try:
            on_moved(src, dst, kind)
        except Exception as exc:  # noqa: BLE001 - a listener never undoes or breaks a move
            problems.append(f"file_moved listener raised {type(exc).__name__}: {exc} "
                            f"({display_path(src)} -> {display_path(dst)})")


@dataclass
class _Staged:
    """A rewrite/write-new step whose new content waits in a temporary file (see ``_stage_chunk``)."""

    tmp: Path
    new_sha: str | None           # None: the producer made nothing new
    sha: str | None = None        # rewrite: sha256 of the original as it was read
    ident: tuple[int, int, int, int] | None = None   # rewrite: (dev, inode, size, mtime_ns) as read
    src: Path | None = None
    backup: Path | None = None
    how: str | None = None
    mkdirs: list[Path] = field(default_factory=list)

    def src_still_original(self) -> bool:
        """The rewritten file is still the inode that was read, unchanged (so its backup link is only a
        second name for it)."""
        try:
            st = os.lstat(self.src)
        except OSError:
            return False
        return self.ident == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


# -- the journal --------------------------------------------------------------------------------------


class Journal:
    """One run of a file-changing command. Use ``Journal.begin``; every operation goes through it."""

    def __init__(self, state_dir: Path, run_id: str, path: Path, fh, catalog: Catalog | None,
                 on_moved: MoveListener | None = None):
        self.state_dir = Path(state_dir)
        self.run_id = run_id
        self.path = path
        self._fh = fh
        self.catalog = catalog
        self.on_moved = on_moved
        self.event_problems: list[str] = []
        self._n = 0
        self.finished = False
        self.counts: dict[str, int] = {"done": 0, "skipped": 0, "failed": 0}

    @classmethod
    def begin(cls, state_dir: Path, command: str, args: dict, catalog: Catalog | None = None, *,
              on_moved: MoveListener | None = None) -> Journal:
        """Start a run. ``on_moved(src, dst, kind)`` hears of every file this run moves (and of the moves
        of a killed earlier run that settling finds done), once each, after the move is durable."""
        state_dir = Path(os.path.abspath(state_dir))
        problems: list[str] = []
        settle_interrupted(state_dir, catalog, on_moved=on_moved, problems=problems)
        jdir = journal_dir(state_dir)
        try:
            jdir.mkdir(parents=True, exist_ok=True)
            while True:
                run_id = new_run_id()
                path = jdir / f"{run_id}.jsonl"
                try:
                    fh = open(path, "xb", buffering=0)  # noqa: SIM115 - held open for the whole run
                    break
                except FileExistsError:
                    continue
        except OSError as exc:
            raise JournalError(f"cannot write the journal in {display_path(jdir)}: {exc.strerror or exc}; "
                               "choose another place with --state-dir")
        j = cls(state_dir, run_id, path, fh, catalog, on_moved)
        j.event_problems.extend(problems)
        j._write({"type": "begin", "version": JOURNAL_VERSION, "run_id": run_id, "command": command,
                  "args": args, "started_at": time.time(), "pid": os.getpid(), "host": socket.gethostname(),
                  "pid_start": _process_start(os.getpid()),
                  "catalog": str(catalog.path) if catalog is not None else None}, sync=True)
        fsync_dir(jdir)
        run_index.register(state_dir, run_id, command)  # so that `undo` works from any folder
        return j

    # -- writing records --------------------------------------------------------------------------
    def _write(self, rec: dict[str, Any], sync: bool = False) -> None:
        try:
            self._fh.write(_jdump(rec))
            if sync:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            raise JournalError(f"cannot write the journal {display_path(self.path)}: {exc.strerror or exc}; "
                               "stopped before changing anything else")

    def _sync(self) -> None:
        try:
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise JournalError(f"cannot write the journal {display_path(self.path)}: {exc.strerror or exc}")

    # -- public single operations -----------------------------------------------------------------
    def move(self, src: Path, dst: Path, *, sha256: str | None = None, on_exists: str = "suffix") -> Path:
        return self._one(Step("move", Path(src), Path(dst), sha256=sha256, on_exists=on_exists))

    def copy(self, src: Path, dst: Path, *, sha256: str | None = None, on_exists: str = "suffix") -> Path:
        return self._one(Step("copy", Path(src), Path(dst), sha256=sha256, on_exists=on_exists))

    def hardlink(self, keeper: Path, dup: Path) -> None:
        """Replace ``dup`` by a hard link to ``keeper``; dup's own bytes wait in the trash until undo/purge."""
        self._one(Step("hardlink", Path(dup), Path(keeper)))

    def trash(self, path: Path) -> Path:
        """"Delete" ``path``: move it into ``<state_dir>/trash/<run-id>/``, from where undo brings it back."""
        return self._one(Step("trash", Path(path), None))

    def rewrite(self, path: Path, produce: Callable[[bytes | None, Path], bytes | None], *,
                sha256: str | None = None) -> Path:
        """Replace ``path``'s content by what ``produce`` makes (temp file, fsync, ``os.replace``); the
        original bytes are kept in the run's backup so that undo restores them exactly."""
        return self._one(Step("rewrite", Path(path), None, sha256=sha256, produce=produce))

    def write_new(self, src: Path, dst: Path, produce: Callable[[bytes | None, Path], bytes | None], *,
                  on_exists: str = "suffix") -> Path:
        """Create ``dst`` (made from ``src`` by ``produce``) without replacing anything; returns the path
        really used. Undo moves it to the trash."""
        return self._one(Step("write-new", Path(src), Path(dst), on_exists=on_exists, produce=produce))

    def _one(self, step: Step) -> Path:
        res = self.run([step])[0]
        if res.status != "done":
            raise JournalError(f"{display_path(step.src)}: {res.reason}")
        return res.dst if res.dst is not None else step.src

    # -- batches ----------------------------------------------------------------------------------
    def run(self, steps: Iterable[Step], progress: Callable[[StepResult], None] | None = None,
            workers: int = 1) -> list[StepResult]:
        """Apply steps in chunks: the planned records of a chunk are written and fsynced together, then
        its operations are done one by one, each followed by its done record. A full disk stops the
        run (raised as JournalError after the journal is finished as "failed").

        ``workers``: threads that make the new contents of a chunk's rewrite/write-new steps at once
        (their producers must be thread-safe; reading, hashing, libexiv2 and writing release the GIL)."""
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="journal-stage") \
            if workers > 1 else None
        try:
            return self._run(steps, progress, pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, steps: Iterable[Step], progress: Callable[[StepResult], None] | None,
             pool: ThreadPoolExecutor | None) -> list[StepResult]:
        results: list[StepResult] = []
        pending = [_absolute(s) for s in steps]
        taken: set[str] = set()
        for start in range(0, len(pending), CHUNK):
            chunk = pending[start:start + CHUNK]
            prepared = []
            leaving: set[str] = set()   # sources this chunk moves away before later steps run
            for step in chunk:
                self._n += 1
                n = self._n
                ready = self._prepare(n, step, taken, leaving)
                if not isinstance(ready, StepResult) and step.op in ("move", "trash", "hardlink"):
                    leaving.add(str(step.src).casefold())
                if isinstance(ready, StepResult):
                    self._write({"type": "step", "n": n, "op": step.op, "src": encode_path(step.src),
                                 "dst": encode_path(step.dst) if step.dst else None, "status": ready.status,
                                 "reason": ready.reason})
                    self.counts[ready.status] += 1
                    results.append(ready)
                    if progress:
                        progress(ready)
                    continue
                prepared.append((n, step, ready))
                dst, size, sha = ready
                rec = {"type": "step", "n": n, "op": step.op, "src": encode_path(step.src),
                       "dst": encode_path(dst), "size": size, "sha256": sha, "status": "planned"}
                if step.op == "hardlink":
                    rec["trash"] = encode_path(self._trash_path(step.src))
                if step.meta.get("note"):
                    rec["note"] = step.meta["note"]
                self._write(rec)
            if not prepared:
                continue
            self._sync()
            self._staged = self._stage_chunk(prepared, pool)
            self._dirty_dirs: set[Path] = set()
            moved: list[tuple[Path, Path, str]] = []
            try:
                for i, (n, step, (dst, size, sha)) in enumerate(prepared):
                    try:
                        res = self._execute(n, step, dst, size, sha)
                    except OSError as exc:
                        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
                        res = StepResult(n, step.op, step.src, dst, "failed",
                                         ("the target disk is full" if full else (exc.strerror or str(exc))))
                        self._write({"type": "step", "n": n, "status": "failed", "reason": res.reason})
                        self.counts["failed"] += 1
                        results.append(res)
                        if progress:
                            progress(res)
                        if full:
                            # everything not yet done stays where it is; tell the user what to do
                            for n2, _step2, _ready2 in prepared[i + 1:]:
                                self._write({"type": "step", "n": n2, "status": "skipped",
                                             "reason": "not attempted: disk full"})
                            self._drop_staged()
                            self.finish("failed")
                            raise JournalError(
                                f"the target disk is full after {self.counts['done']} file(s); nothing was lost; "
                                f"free some space and run again, or `imgengine undo {self.run_id}`") from exc
                        continue
                    except ImgEngineError as exc:      # JournalError, or a producer's MetadataError
                        res = StepResult(n, step.op, step.src, dst, "failed", str(exc))
                        self._write({"type": "step", "n": n, "status": "failed", "reason": res.reason})
                        self.counts["failed"] += 1
                        results.append(res)
                        if progress:
                            progress(res)
                        continue
                    self.counts[res.status] += 1
                    if res.status == "done" and step.op in ("move", "trash") and res.dst is not None:
                        moved.append((step.src, res.dst, step.op))
                    results.append(res)
                    if progress:
                        progress(res)
                self._drop_staged()
                self._sync_dirs(getattr(self, "_dirty_dirs", ()))
                self._dirty_dirs = set()
            finally:    # also when a full disk or Ctrl-C stops the chunk: what moved is announced
                self._announce(moved)
        self._sync()
        return results

    @property
    def undo_hint(self) -> str:
        """The command that reverts this run, from any folder."""
        return f"imgengine undo {self.run_id} --state-dir {display_path(self.state_dir)}"

    def _announce(self, moved: list[tuple[Path, Path, str]]) -> None:
        if self.on_moved is None or not moved:
            return
        if not self.finished:
            try:
                self._sync()            # the done records first: a listener never hears of an unrecorded move
            except JournalError:
                pass                    # the files are where they are; say so all the same
        announce_moves(self.on_moved, moved, self.event_problems)

    @staticmethod
    def _sync_dirs(folders: Iterable[Path]) -> None:
        """The folder entries a chunk changed: one ``syncfs`` per file system where there is one."""
        folders = sorted(set(folders))
        if not folders:
            return
        try:
            sync_files(folders)
        except OSError:
            for folder in folders:
                fsync_dir(folder)

    def _stage_chunk(self, prepared: list, pool: ThreadPoolExecutor | None = None) -> dict[int, Any]:
        """rewrite / write-new steps of a chunk, in three phases, so that no file pays its own fsync:

        1. make every new content in a temporary file beside its target (in ``pool``'s threads when
           given): the original is read once, hashed, handed to the producer; the new bytes are written
           and their write-back to disk is started at once (``sync_file_range``), overlapping the work;
        2. keep each original (a hard link to its inode in the run's backup store) and record
           ``staged`` (old and new sha256) for every step;
        3. one durability point: the journal fsynced and one ``syncfs`` per file system (new contents,
           backup links) before anything is put in place.

        After that ``_execute`` only renames, so a crash at any moment (kill -9 or power loss) leaves
        each file with its old bytes or its complete new bytes, and settling tells which by hash.
        Returns step number -> ``_Staged`` or the exception that failed the step."""
        staged: dict[int, Any] = {}
        self._chunk_mkdirs: dict[int, list[Path]] = {}
        work = [(n, step, dst, size) for n, step, (dst, size, _sha) in prepared
                if step.op in ("rewrite", "write-new") and step.produce is not None]
        if not work:
            return staged
        for n, _step, dst, _size in work:
            if _step.op == "write-new":
                self._chunk_mkdirs[n] = _makedirs(dst.parent)

        def one(item: tuple[int, Step, Path, int]) -> tuple[int, Any]:
            n, step, dst, size = item
            target = step.src if step.op == "rewrite" else dst
            tmp = target.with_name(f"{TEMP_MARK}{secrets.token_hex(4)}-{target.name}"[:255])
            try:
                data = sha = ident = mode = None
                if step.op == "rewrite":
                    with open(step.src, "rb") as f:
                        st = os.fstat(f.fileno())
                        data = f.read()
                    if st.st_size != size or len(data) != size:
                        raise JournalError("the file changed while it was being rewritten; not touched")
                    sha = hashlib.sha256(data).hexdigest()
                    ident, mode = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), st.st_mode
                new_sha = self._stage(n, step, data, tmp, mode)
                return n, _Staged(tmp, new_sha, sha, ident, step.src)
            except (OSError, ImgEngineError) as exc:
                return n, exc

        done: list[tuple[int, Any]] = []
        futures: list[Future] = []
        try:
            if pool is not None and len(work) > 1:
                futures = [pool.submit(one, item) for item in work]
                for fut in futures:
                    done.append(fut.result())
            else:
                for item in work:
                    done.append(one(item))
        except BaseException:                      # Ctrl-C, or a producer's own bug: no temp file left
            for fut in futures:
                fut.cancel()
            done = [fut.result() for fut in futures
                    if not fut.cancelled() and fut.exception() is None] if futures else done
            for _n, value in done:
                if isinstance(value, _Staged):
                    remove_quietly(value.tmp)
            raise
        staged.update(done)
        self._staged = staged            # from here on _drop_staged cleans up after an interruption
        to_sync: list[Path] = []
        recs: list[dict[str, Any]] = []
        for n, step, dst, _size in work:
            value = staged[n]
            if isinstance(value, BaseException):
                _remove_empty_dirs(self._chunk_mkdirs.pop(n, []))
                continue
            if value.new_sha is None or (step.op == "rewrite" and value.new_sha == value.sha):
                continue                                    # nothing new: _execute records the skip
            if step.op == "rewrite":
                try:
                    self._keep_original(step.src, dst, value)
                except (OSError, ImgEngineError) as exc:
                    remove_quietly(value.tmp)
                    staged[n] = exc
                    continue
                to_sync.append(dst.parent)
                recs.append({"type": "staged", "n": n, "new_sha256": value.new_sha, "sha256": value.sha})
            else:
                recs.append({"type": "staged", "n": n, "new_sha256": value.new_sha})
            to_sync.append(value.tmp)
        if not recs:
            return staged
        try:
            self._write_many(recs)
            self._sync()
            sync_files(to_sync)
        except (OSError, JournalError) as exc:
            self._drop_staged()
            return {n: exc for n, _step, _dst, _size in work}
        return staged

    def _keep_original(self, src: Path, backup: Path, value: _Staged) -> None:
        """Keep the original for undo: its inode hard-linked into the backup store (no copy; exact bytes
        and times), or a verified copy across file systems. Refuses a file replaced since it was read."""
        if not value.src_still_original():
            raise JournalError("the file changed while it was being rewritten; not touched")
        value.mkdirs = _makedirs(backup.parent)
        try:
            os.link(src, backup)                 # the original inode itself
        except OSError:
            try:
                copy_verified(src, backup, value.sha)   # another file system (or no hard links)
            except BaseException:
                _remove_empty_dirs(value.mkdirs)
                raise
            value.how, value.backup = "rewrite+copy-backup", backup
            return
        value.how, value.backup = "rewrite+link-backup", backup
        if not os.path.samefile(src, backup):    # replaced between the check and the link
            remove_quietly(backup)
            _remove_empty_dirs(value.mkdirs)
            value.backup = None
            raise JournalError("the file changed while it was being rewritten; not touched")

    def _drop_staged(self) -> None:
        """Staged steps that will not be done (a full disk stopped the run, Ctrl-C): their temporary files
        and the backup links made for them (the original is still in place: same inode)."""
        for n, value in getattr(self, "_staged", {}).items():
            if not isinstance(value, _Staged):
                continue
            remove_quietly(value.tmp)
            if value.backup is not None and value.src_still_original():
                remove_quietly(value.backup)
                _remove_empty_dirs(value.mkdirs)
            _remove_empty_dirs(getattr(self, "_chunk_mkdirs", {}).get(n, []))
        self._staged = {}

    def _take_staged(self, n: int) -> _Staged:
        value = getattr(self, "_staged", {}).pop(n, None)
        if isinstance(value, BaseException):
            raise value
        if value is None:
            raise JournalError("no new content was made for this step")
        return value

    def _write_many(self, recs: list[dict[str, Any]]) -> None:
        try:
            self._fh.write(b"".join(_jdump(r) for r in recs))
        except OSError as exc:
            raise JournalError(f"cannot write the journal {display_path(self.path)}: {exc.strerror or exc}; "
                               "stopped before changing anything else")

    def _prepare(self, n: int, step: Step, taken: set[str], leaving: set[str] | None = None
                 ) -> StepResult | tuple[Path | None, int, str]:
        """Check the source against the plan, hash it, and choose the real target (never an existing file)."""
        src = step.src
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            return StepResult(n, step.op, src, step.dst, "skipped", "source no longer exists (deleted after planning)")
        except OSError as exc:
            return StepResult(n, step.op, src, step.dst, "failed", f"cannot read source: {exc.strerror or exc}")
        if (step.expect_size is not None and st.st_size != step.expect_size) or \
                (step.expect_mtime_ns is not None and st.st_mtime_ns != step.expect_mtime_ns):
            return StepResult(n, step.op, src, step.dst, "skipped", "source changed after planning; not touched")
        try:
            if step.op == "rewrite" and not step.sha256:
                sha = None          # hashed from the bytes it reads anyway (staging); recorded as staged
            else:
                sha = step.sha256 if (step.sha256 and step.expect_mtime_ns is not None) else sha256_of(src)
        except OSError as exc:
            return StepResult(n, step.op, src, step.dst, "failed", f"cannot read source: {exc.strerror or exc}")
        if step.op == "rewrite" and step.sha256 and sha != step.sha256:
            return StepResult(n, step.op, src, src, "skipped", "file changed since it was planned; not touched")
        if step.op == "trash":
            dst = self._trash_path(src)
        elif step.op == "rewrite":
            if not os.path.isfile(src) or os.path.islink(src):
                return StepResult(n, step.op, src, src, "skipped", "not a regular file; not touched")
            if not os.access(src, os.W_OK) or not st.st_mode & 0o222:   # root ignores modes; we do not
                return StepResult(n, step.op, src, src, "skipped", "the file is read-only; not changed")
            dst = self._backup_path(src)
        elif step.op == "hardlink":
            dst = step.dst  # the keeper
            if dst is None or not dst.exists():
                return StepResult(n, step.op, src, dst, "failed", "the file to keep is missing")
            if os.path.samefile(src, dst):
                return StepResult(n, step.op, src, dst, "skipped", "already a hard link to the kept file")
        else:
            dst = step.dst
            assert dst is not None
            key = str(dst).casefold()
            if key in taken or (os.path.lexists(dst) and not (leaving and key in leaving)):
                if step.on_exists == "error":
                    return StepResult(n, step.op, src, dst, "failed", f"target exists: {display_path(dst)}")
                if step.op == "write-new":       # a new file never takes an existing name (not even its source's)
                    dst = next_free_name(dst, lambda p: str(p).casefold() in taken)
                    taken.add(str(dst).casefold())
                    return dst, st.st_size, sha
                same_file = False
                try:
                    same_file = os.path.samefile(src, dst)
                except OSError:
                    pass
                if same_file and _is_case_only_rename(src, dst):
                    pass  # case-only rename of the same file
                elif same_file:
                    return StepResult(n, step.op, src, dst, "skipped", "already in place")
                elif step.on_exists == "skip-identical" and os.path.isfile(dst) and \
                        os.path.getsize(dst) == st.st_size and sha256_of(dst) == sha:
                    return StepResult(n, step.op, src, dst, "skipped", f"identical file already at "
                                      f"{display_path(dst)}")
                else:
                    dst = next_free_name(dst, lambda p: str(p).casefold() in taken)
            taken.add(str(dst).casefold())
        return dst, st.st_size, sha

    def _trash_path(self, src: Path) -> Path:
        return _kept_path(self.state_dir, "trash", self.run_id, src)

    def _backup_path(self, src: Path) -> Path:
        return _kept_path(self.state_dir, "backup", self.run_id, src)

    def _stage(self, n: int, step: Step, data: bytes | None, tmp: Path, mode: int | None) -> str | None:
        """Make the new content in ``tmp`` and start writing it to disk (made durable later, for the
        whole chunk at once); returns its sha256, or None when produce made nothing new. The temporary
        file is removed on any failure."""
        assert step.produce is not None
        try:
            out = step.produce(data, tmp)
            if out is not None:
                if data is not None and (out is data or out == data):
                    return None                      # the producer found nothing to change
                with open(tmp, "xb", buffering=0) as f:
                    view = memoryview(out)
                    while view:
                        view = view[f.write(view):]
                    if mode is not None:
                        os.fchmod(f.fileno(), stat.S_IMODE(mode))
                    _start_writeback(f.fileno())
                new_sha = hashlib.sha256(out).hexdigest()
            else:
                if not os.path.isfile(tmp):
                    return None
                new_sha = sha256_of(tmp)
                if mode is not None:
                    os.chmod(tmp, stat.S_IMODE(mode))
            times = step.meta.get("utime_ns")
            if times:
                os.utime(tmp, ns=tuple(times))
        except BaseException:
            remove_quietly(tmp)
            raise
        return new_sha

    def _execute_rewrite(self, n: int, step: Step, backup: Path) -> StepResult:
        """Put the staged new content in place (``os.replace``: atomic); the original is in the backup."""
        src = step.src
        value = self._take_staged(n)
        if value.new_sha is None or value.new_sha == value.sha or value.backup is None:
            remove_quietly(value.tmp)
            self._write({"type": "step", "n": n, "status": "skipped", "reason": "already as asked"})
            return StepResult(n, step.op, src, src, "skipped", "already as asked")
        try:
            if not value.src_still_original():
                raise JournalError("the file changed while it was being rewritten; not touched")
            os.replace(value.tmp, src)
        except BaseException:
            remove_quietly(value.tmp)
            if value.src_still_original() or (os.path.lexists(src) and sha256_of(src) == value.sha):
                remove_quietly(value.backup)        # nothing happened: the original is still in place
                _remove_empty_dirs(value.mkdirs)
            raise
        self._dirty_dirs.add(src.parent)
        self._write({"type": "step", "n": n, "status": "done", "dst": encode_path(backup), "how": value.how,
                     "sha256": value.sha, "new_sha256": value.new_sha,
                     "mkdirs": [encode_path(d) for d in value.mkdirs]})
        return StepResult(n, step.op, src, src, "done", how=value.how)

    def _execute_write_new(self, n: int, step: Step, dst: Path) -> StepResult:
        src = step.src
        mkdirs = getattr(self, "_chunk_mkdirs", {}).get(n, []) or _makedirs(dst.parent)
        value = self._take_staged(n)
        if value.new_sha is None:
            _remove_empty_dirs(mkdirs)
            self._write({"type": "step", "n": n, "status": "skipped", "reason": "nothing to write"})
            return StepResult(n, step.op, src, dst, "skipped", "nothing to write")
        try:
            try:
                rename_noreplace(value.tmp, dst)
            except FileExistsError:
                if step.on_exists != "suffix":
                    raise
                dst = next_free_name(dst)       # appeared since this chunk was planned
                rename_noreplace(value.tmp, dst)
        except BaseException:
            remove_quietly(value.tmp)
            _remove_empty_dirs(mkdirs)
            raise
        self._dirty_dirs.add(dst.parent)
        self._write({"type": "step", "n": n, "status": "done", "dst": encode_path(dst), "how": "write-new",
                     "new_sha256": value.new_sha, "mkdirs": [encode_path(d) for d in mkdirs]})
        return StepResult(n, step.op, src, dst, "done", how="write-new")

    def _execute(self, n: int, step: Step, dst: Path, size: int, sha: str) -> StepResult:
        src = step.src
        if step.op == "rewrite":
            return self._execute_rewrite(n, step, dst)
        if step.op == "write-new":
            return self._execute_write_new(n, step, dst)
        if step.op in ("move", "trash"):
            mkdirs = _makedirs(dst.parent)
            try:
                try:
                    how = move_noreplace(src, dst, sha)
                except FileExistsError:
                    if step.on_exists != "suffix":
                        raise
                    dst = next_free_name(dst)   # appeared since this chunk was planned
                    how = move_noreplace(src, dst, sha)
            except BaseException:
                _remove_empty_dirs(mkdirs)      # only the folders it made, and only when still empty
                raise
            done = {"type": "step", "n": n, "status": "done", "dst": encode_path(dst), "how": how,
                    "mkdirs": [encode_path(d) for d in mkdirs]}
            if step.op == "trash":
                # a trashed photo leaves the catalog (it is no longer in the collection); its record is
                # kept in the journal so that undo puts it back without re-analysis
                rec = self._catalog_take(src)
                if rec is not None:
                    done["catalog_record"] = rec
                self._write(done)
            else:
                self._write(done)
                self._catalog_move(src, dst)
            return StepResult(n, step.op, src, dst, "done", how=how)
        if step.op == "copy":
            mkdirs = _makedirs(dst.parent)
            try:
                copy_verified(src, dst, sha, sync_folder=False)
            except BaseException:
                _remove_empty_dirs(mkdirs)
                raise
            self._write({"type": "step", "n": n, "status": "done", "dst": encode_path(dst), "how": "copy",
                         "mkdirs": [encode_path(d) for d in mkdirs]})
            return StepResult(n, step.op, src, dst, "done", how="copy")
        if step.op == "hardlink":
            keeper = dst
            trash = self._trash_path(src)
            mkdirs = _makedirs(trash.parent)
            tmp = src.with_name(f"{TEMP_MARK}{secrets.token_hex(4)}-{src.name}"[:255])
            os.link(keeper, tmp)                    # fails cleanly across file systems (EXDEV)
            try:
                rename_noreplace(src, trash)        # dup's own bytes are kept until undo/purge
            except BaseException:
                os.unlink(tmp)
                raise
            rename_noreplace(tmp, src)
            self._write({"type": "step", "n": n, "status": "done", "dst": encode_path(keeper), "how": "hardlink",
                         "trash": encode_path(trash), "mkdirs": [encode_path(d) for d in mkdirs]})
            return StepResult(n, step.op, src, keeper, "done", how="hardlink")
        raise JournalError(f"unknown journal operation {step.op!r}")

    def prune_empty_folders(self, folders: Iterable[Path], stop_at: Path) -> int:
        """Remove folders (and then their parents, up to but not including ``stop_at``) that the run's
        moves left empty. Each removal is journaled, and undo recreates the folder."""
        stop = os.path.abspath(stop_at)
        removed = 0
        todo = sorted({os.path.abspath(f) for f in folders}, key=len, reverse=True)
        seen: set[str] = set()
        for folder in todo:
            while folder != stop and folder.startswith(stop.rstrip("/") + "/") and folder not in seen:
                seen.add(folder)
                try:
                    os.rmdir(folder)
                except OSError:
                    break               # not empty (or not ours to remove): stop climbing
                self._write({"type": "rmdir", "path": encode_path(folder)})
                removed += 1
                folder = os.path.dirname(folder)
        if removed:
            self._sync()
        return removed

    def export_to_catalog(self, target: Catalog, placed: Iterable[tuple[Path, Path]]) -> int:
        """Give the catalog of the library the run filled the analysis of the files it placed there
        (``(source, new path)`` pairs), so the library needs no re-analysis. Journaled: undo removes
        these entries again. Returns the number of records written."""
        if self.catalog is None:
            return 0
        outcomes, paths = [], []
        for src, dst in placed:
            rec = self.catalog.get(dst) or self.catalog.get(src)
            if rec is None:
                continue
            try:
                st = os.stat(dst)
            except OSError:
                continue
            outcomes.append(record_to_outcome(rec, Path(dst), st))
            paths.append(encode_path(dst))
        if outcomes:
            self._write({"type": "catalog_export", "catalog": str(target.path), "paths": paths}, sync=True)
            target.write_outcomes(outcomes)
        return len(outcomes)

    def _catalog_take(self, path: Path) -> dict[str, Any] | None:
        if self.catalog is None:
            return None
        try:
            rec = self.catalog.get(path)
            if rec is None:
                return None
            self.catalog.remove(path)
        except (CatalogError, sqlite3.Error):
            return None
        return {k: v for k, v in rec.items() if k in ("format", "extension_mismatch", "sha256", "status",
                                                       "error", "results")}

    def _catalog_move(self, src: Path, dst: Path) -> None:
        if self.catalog is None:
            return
        try:
            self.catalog.move_path(src, dst)
        except CatalogError:
            pass  # an entry for dst exists already (stale); the next analyze reconciles by sha256

    def finish(self, status: str = "done") -> None:
        if self.finished:
            return
        self._write({"type": "finish", "status": status, "finished_at": time.time(), "counts": self.counts},
                    sync=True)
        self.finished = True
        run_index.finish(self.state_dir, self.run_id, status, self.counts)
        try:
            self._fh.close()
        except OSError:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._drop_staged()          # Ctrl-C between staging and putting in place: nothing half-kept
        if not self.finished:
            if exc_type is None:
                self.finish("done")
            else:
                self.finish("interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed")


# -- reading journals ---------------------------------------------------------------------------------


@dataclass
class _StepState:
    n: int
    op: str
    src: Path
    dst: Path | None
    size: int | None
    sha256: str | None
    status: str
    how: str | None = None
    trash: Path | None = None
    mkdirs: list[Path] = field(default_factory=list)
    catalog_record: dict[str, Any] | None = None
    new_sha256: str | None = None          # rewrite / write-new: the content the run put there


@dataclass
class _Parsed:
    header: dict[str, Any]
    steps: dict[int, _StepState]
    finish: dict[str, Any] | None
    undo: dict[str, Any] | None
    path: Path


def _read_journal(path: Path) -> _Parsed:
    header: dict[str, Any] = {}
    steps: dict[int, _StepState] = {}
    finish = undo = None
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # a torn last line from a crash: its operation was never started
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            t = rec.get("type")
            if t == "begin":
                header = rec
            elif t == "step":
                n = rec["n"]
                st = steps.get(n)
                if st is None:
                    steps[n] = _StepState(n, rec.get("op", "?"), decode_path(rec.get("src")),
                                          decode_path(rec.get("dst")), rec.get("size"), rec.get("sha256"),
                                          rec["status"], trash=decode_path(rec.get("trash")))
                    continue
                st.status = rec["status"]
                if rec.get("dst") is not None:
                    st.dst = decode_path(rec["dst"])
                if rec.get("how"):
                    st.how = rec["how"]
                if rec.get("catalog_record") is not None:
                    st.catalog_record = rec["catalog_record"]
                if rec.get("mkdirs"):
                    st.mkdirs = [decode_path(d) for d in rec["mkdirs"]]
                if rec.get("new_sha256"):
                    st.new_sha256 = rec["new_sha256"]
                if rec.get("sha256") and not st.sha256:
                    st.sha256 = rec["sha256"]
            elif t == "staged":
                if rec.get("n") in steps:
                    steps[rec["n"]].new_sha256 = rec.get("new_sha256")
                    if rec.get("sha256") and not steps[rec["n"]].sha256:
                        steps[rec["n"]].sha256 = rec["sha256"]
            elif t == "catalog_export":
                header.setdefault("_exports", []).append((rec["catalog"], [decode_path(x) for x in rec["paths"]]))
            elif t == "rmdir":
                header.setdefault("_rmdirs", []).append(decode_path(rec["path"]))
            elif t == "finish":
                finish = rec
            elif t == "undo":
                undo = rec
    if not header:
        raise JournalError(f"{display_path(path)} is not an imgengine journal")
    return _Parsed(header, steps, finish, undo, path)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (Linux), to tell a live run from a reused process id."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: int | None, host: str | None, started: str | None = None) -> bool:
    if not pid or (host and host != socket.gethostname()):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is not None:
        now = _process_start(pid)
        if now is not None and now != started:
            return False          # the id was reused by another process: the run itself is gone
    return True


def _journals(state_dir: Path) -> list[Path]:
    jdir = journal_dir(state_dir)
    if not jdir.is_dir():
        return []
    return sorted(jdir.glob("*.jsonl"))


def _status_of(p: _Parsed) -> str:
    undone = sum(1 for s in p.steps.values() if s.status == "undone")
    done = sum(1 for s in p.steps.values() if s.status == "done")
    if undone and not done:
        return "undone"
    if undone:
        return "partly-undone"
    if p.finish is None:
        alive = _pid_alive(p.header.get("pid"), p.header.get("host"), p.header.get("pid_start"))
        return "running" if alive else "interrupted"
    return p.finish.get("status", "done")


def history(state_dir: Path) -> list[RunInfo]:
    """Past runs recorded in ``state_dir``, oldest first."""
    out = []
    for path in _journals(state_dir):
        try:
            p = _read_journal(path)
        except (OSError, JournalError):
            continue
        h = p.header
        out.append(RunInfo(
            run_id=h.get("run_id", path.stem), command=h.get("command", "?"), args=h.get("args", {}),
            started_at=h.get("started_at", 0.0), finished_at=(p.finish or {}).get("finished_at"),
            status=_status_of(p), steps_done=sum(1 for s in p.steps.values() if s.status == "done"),
            steps_undone=sum(1 for s in p.steps.values() if s.status == "undone"), path=path,
            catalog=h.get("catalog")))
    out.sort(key=lambda r: (r.started_at, r.run_id))
    return out


def find_state_dir(start: Path) -> Path | None:
    """The ``.imgengine`` folder with a journal in ``start`` or the nearest parent."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / ".imgengine" / "journal").is_dir():
            return folder / ".imgengine"
        if folder.name == ".imgengine" and (folder / "journal").is_dir():
            return folder
    return None


# -- settling interrupted runs ------------------------------------------------------------------------


def _end_torn_line(path: Path) -> None:
    """A crash can leave half a record at the end: close it with a newline so it reads as junk."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return
        f.seek(-1, os.SEEK_END)
        torn = f.read(1) != b"\n"
    if torn:
        with open(path, "ab") as f:
            f.write(b"\n")


def _append(path: Path, recs: Iterable[dict[str, Any]]) -> None:
    _end_torn_line(path)
    with open(path, "ab", buffering=0) as f:
        f.writelines(_jdump(rec) for rec in recs)
        os.fsync(f.fileno())


def _settle_step(st: _StepState) -> tuple[str, str | None]:
    """Decide on disk whether an in-flight step (planned, no outcome recorded) happened.
    Leaves the disk consistent: a half-done step is rolled back to "not done" where both copies exist."""
    src, dst = st.src, st.dst
    if st.op in ("rewrite", "write-new"):
        return _settle_written(st)
    # leftover temporary copies are ours and partial (or complete duplicates of a source still there)
    if dst is not None and st.op in ("move", "copy", "trash"):
        for tmp in dst.parent.glob(f"{TEMP_MARK}*-{dst.name}"[:255]) if dst.parent.is_dir() else ():
            if src.exists():
                try:
                    tmp.unlink()
                except OSError:
                    pass
    if st.op == "hardlink":
        # order was: link keeper -> temp beside dup; dup -> trash; temp -> dup
        pending = None
        for cand in src.parent.glob(f"{TEMP_MARK}*-{src.name}"[:255]) if src.parent.is_dir() else ():
            if os.path.lexists(src):
                try:
                    cand.unlink()
                except OSError:
                    pass
            else:
                pending = cand
        if pending is not None:              # dup is in the trash: put the link in its place
            rename_noreplace(pending, src)
            return "done", "completed after interruption"
        if os.path.lexists(src) and st.trash is not None and os.path.lexists(st.trash) and \
                dst is not None and os.path.exists(dst) and os.path.samefile(src, dst):
            return "done", None
        return "not-done", None
    src_there, dst_there = os.path.lexists(src), dst is not None and os.path.lexists(dst)
    if src_there and not dst_there:
        return "not-done", None
    if st.op == "copy":
        if dst_there and st.sha256 and sha256_of(dst) == st.sha256:
            return "done", None
        return "not-done", None
    if dst_there and not src_there:
        if st.sha256 and os.path.isfile(dst) and sha256_of(dst) != st.sha256:
            return "missing", f"source gone and {display_path(dst)} holds other bytes"
        return "done", None
    if src_there and dst_there:
        try:
            if os.path.samefile(src, dst):        # link made, unlink not: undo the link
                os.unlink(dst)
                return "not-done", "half-done move rolled back"
        except OSError:
            pass
        if st.sha256 and sha256_of(dst) == st.sha256 and sha256_of(src) == st.sha256:
            os.unlink(dst)                        # verified copy made, source not yet removed
            return "not-done", "half-done copy removed (source intact)"
        return "not-done", "target belongs to another file; left alone"
    return "missing", "neither source nor target exists any more"


def _remove_temps(beside: Path) -> None:
    folder = beside.parent
    if not folder.is_dir():
        return
    for tmp in folder.glob(f"{TEMP_MARK}*-{beside.name}"[:255]):
        try:
            tmp.unlink()
        except OSError:
            pass


def _settle_written(st: _StepState) -> tuple[str, str | None]:
    """rewrite: the file holds either the old bytes (not done; the backup is dropped) or the new ones
    (done: ``os.replace`` is atomic). write-new: the new file is there with the staged content, or not."""
    if st.op == "rewrite":
        _remove_temps(st.src)
        if not os.path.lexists(st.src):
            return "missing", "the file is gone"
        now = sha256_of(st.src)
        if st.new_sha256 and now == st.new_sha256:
            return "done", None
        # not replaced: the new content is put in place only after its "staged" record (with the
        # original's sha256) is durable, so without one the file was never touched
        if st.dst is not None and os.path.lexists(st.dst) and (st.sha256 is None or now == st.sha256
                                                                or os.path.samefile(st.src, st.dst)):
            remove_quietly(st.dst)          # backup of a file that was never replaced
        elif st.dst is not None and os.path.lexists(st.dst):
            return "failed", (f"holds neither its old nor its new bytes; the original is kept in "
                              f"{display_path(st.dst)}")
        return "not-done", None
    assert st.dst is not None
    _remove_temps(st.dst)
    if st.new_sha256 and os.path.isfile(st.dst) and sha256_of(st.dst) == st.new_sha256:
        return "done", None
    return "not-done", None


def _ends_finished(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read()
    except OSError:
        return False
    return b'"type":"finish"' in tail or b'"type":"undo"' in tail


def settle_interrupted(state_dir: Path, catalog: Catalog | None = None, *, on_moved: MoveListener | None = None,
                       problems: list[str] | None = None) -> list[str]:
    """Record the truth for every journal whose process died before ``finish``. Returns their run ids.
    The moves found done (the process died before announcing them) are announced to ``on_moved`` now."""
    settled = []
    for path in _journals(state_dir):
        if _ends_finished(path):
            continue                      # fast path: no need to parse a finished run
        try:
            p = _read_journal(path)
        except (OSError, JournalError):
            continue
        if p.finish is not None or _pid_alive(p.header.get("pid"), p.header.get("host"), p.header.get("pid_start")):
            continue
        recs = []
        moved: list[tuple[Path, Path, str]] = []
        for st in sorted(p.steps.values(), key=lambda s: s.n):
            if st.status != "planned":
                continue
            outcome, note = _settle_step(st)
            if outcome == "done":
                recs.append({"type": "step", "n": st.n, "status": "done", "how": "settled",
                             "dst": encode_path(st.dst) if st.dst else None, "reason": note})
                if st.op in ("move", "trash") and st.dst is not None:
                    moved.append((st.src, st.dst, st.op))
                if catalog is not None and st.op == "move" and st.dst is not None:
                    try:
                        catalog.move_path(st.src, st.dst)
                    except CatalogError:
                        pass
            else:
                recs.append({"type": "step", "n": st.n, "status": "skipped" if outcome == "not-done" else "failed",
                             "reason": note or "interrupted before it was done"})
        recs.append({"type": "finish", "status": "interrupted", "finished_at": time.time(), "settled": True})
        _append(path, recs)
        announce_moves(on_moved, moved, problems if problems is not None else [])
        settled.append(p.header.get("run_id", path.stem))
    return settled


def resume_or_rollback(state_dir: Path, run_id: str, mode: str = "rollback", catalog: Catalog | None = None,
                       *, on_moved: MoveListener | None = None) -> UndoReport | list[StepResult]:
    """An interrupted run: ``rollback`` undoes what it did; ``complete`` does the steps it had planned
    but not done (each checked against its recorded size and sha256 first)."""
    if mode == "rollback":
        return undo(state_dir, run_id, catalog, on_moved=on_moved)   # settles killed runs first
    if mode != "complete":
        raise JournalError(f"unknown mode {mode!r}: use rollback or complete")
    problems: list[str] = []
    settle_interrupted(state_dir, catalog, on_moved=on_moved, problems=problems)
    p = _read_journal(_journal_path(state_dir, run_id))
    todo = [s for s in sorted(p.steps.values(), key=lambda s: s.n)
            if s.status == "skipped" and s.size is not None and s.op in ("move", "copy", "trash")]
    j = Journal.begin(state_dir, f"{p.header.get('command', '?')} (completing {run_id})",
                      {"completes": run_id}, catalog, on_moved=on_moved)
    j.event_problems[:0] = problems
    try:
        return j.run([Step(s.op, s.src, s.dst, expect_size=s.size) for s in todo])
    finally:
        j.finish()


def _journal_path(state_dir: Path, run_id: str | None) -> Path:
    runs = _journals(state_dir)
    if not runs:
        raise JournalError(f"no runs recorded in {display_path(state_dir)}")
    if run_id is None:
        return runs[-1]
    exact = journal_dir(state_dir) / f"{run_id}.jsonl"
    if exact.is_file():
        return exact
    matches = [p for p in runs if p.stem.startswith(run_id) or p.stem.endswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise JournalError(f"no run {run_id!r} in {display_path(state_dir)}; see `imgengine history`")
    raise JournalError(f"{run_id!r} matches {len(matches)} runs; give more of the run id")


# -- undo ---------------------------------------------------------------------------------------------


def undo(state_dir: Path, run_id: str | None = None, catalog: Catalog | None = None,
         progress: Callable[[], None] | None = None, *, on_moved: MoveListener | None = None) -> UndoReport:
    """Revert a run's done steps, last first. Each file is checked (sha256) before it is moved back;
    nothing is overwritten; a step that cannot be reverted safely is reported and left as it is.
    Without ``run_id``: the latest run that still has something to undo. ``on_moved`` hears of every
    file moved back (kind ``undo``), after the undo is durable."""
    state_dir = Path(state_dir)
    event_problems: list[str] = []
    settle_interrupted(state_dir, catalog, on_moved=on_moved, problems=event_problems)
    if run_id is None:
        candidates = [r for r in history(state_dir) if r.steps_done > 0]
        if not candidates:
            raise JournalError(f"nothing to undo in {display_path(state_dir)}")
        path = candidates[-1].path
    else:
        path = _journal_path(state_dir, run_id)
    p = _read_journal(path)
    rid = p.header.get("run_id", path.stem)
    report = UndoReport(rid, event_problems=event_problems)
    if _status_of(p) == "running":
        raise JournalError(f"run {rid} is still running (process {p.header.get('pid')}); wait for it to end")
    steps = sorted(p.steps.values(), key=lambda s: s.n, reverse=True)
    report.already_undone = sum(1 for s in steps if s.status == "undone")
    if not any(s.status == "done" for s in steps):
        if report.already_undone:
            return report
        raise JournalError(f"run {rid} changed nothing; nothing to undo")
    _end_torn_line(path)
    for folder in p.header.get("_rmdirs", []):
        try:
            folder.mkdir(parents=True, exist_ok=True)      # folders the run emptied and removed
        except OSError:
            pass
    moved: list[tuple[Path, Path, str]] = []
    with open(path, "ab", buffering=0) as fh:
        def mark(st: _StepState) -> None:
            fh.write(_jdump({"type": "step", "n": st.n, "status": "undone", "at": time.time()}))

        try:
            for i, st in enumerate(steps):
                if st.status != "done":
                    continue
                if st.op == "write-new" and st.dst is not None:
                    st.trash = _kept_path(state_dir, "trash", rid, st.dst)
                try:
                    problem = _undo_step(st, catalog, report)
                except OSError as exc:
                    problem = f"{display_path(st.src)}: {exc.strerror or exc}"
                if problem:
                    report.problems.append(problem)
                else:
                    mark(st)
                    if st.op in ("move", "trash") and st.dst is not None:
                        moved.append((st.dst, st.src, "undo"))
                if i % 256 == 255:
                    os.fsync(fh.fileno())
                if progress:
                    progress()
        finally:    # what was moved back is announced even when Ctrl-C stops the undo
            os.fsync(fh.fileno())
            announce_moves(on_moved, moved, report.event_problems)
        # folders the run created, innermost first, only when empty
        dirs: list[Path] = []
        for st in steps:
            dirs.extend(reversed(st.mkdirs))
        report.dirs_removed = _remove_empty_dirs(sorted(set(dirs), key=lambda d: len(os.fsencode(d)),
                                                        reverse=True))
        for cat_path, exported in p.header.get("_exports", []):
            _forget_exported(Path(cat_path), exported)
        for store in ("trash", "backup"):
            if (state_dir / store / rid).is_dir():
                _prune_empty_tree(state_dir / store / rid)
        fh.write(_jdump({"type": "undo", "at": time.time(), "report": report.to_dict()}))
        os.fsync(fh.fileno())
    return report


def record_to_outcome(rec: dict[str, Any], path: Path, st: os.stat_result) -> Any:
    """A catalog record (``Catalog.get``) as the outcome ``Catalog.write_outcomes`` stores, at ``path``."""
    from ..engine.perfile import FileOutcome

    results = {}
    for name, data in rec.get("results", {}).items():
        data = dict(data)
        version = str(data.pop("_version", ""))
        error = data.pop("_error", None)
        results[name] = (version, None if error is not None and not data else data, error)
    return FileOutcome(Path(path), st.st_size, st.st_mtime_ns, format=rec.get("format"),
                       extension_mismatch=bool(rec.get("extension_mismatch")), sha256=rec.get("sha256"),
                       status=rec.get("status") or "ok", error=rec.get("error"), results=results)


def _forget_exported(cat_path: Path, paths: list[Path]) -> None:
    """Undo of export_to_catalog: the library's catalog forgets files that are no longer there."""
    if not cat_path.is_file():
        return
    try:
        with Catalog(cat_path) as cat:
            for path in paths:
                if not os.path.lexists(path):
                    cat.remove(path)
    except CatalogError:
        pass


def _undo_step(st: _StepState, catalog: Catalog | None, report: UndoReport) -> str | None:
    src, dst = st.src, st.dst
    shown = display_path(src)
    if st.op in ("move", "trash"):
        assert dst is not None
        if not os.path.lexists(dst):
            return f"{shown}: cannot restore, {display_path(dst)} is gone"
        if st.sha256 and sha256_of(dst) != st.sha256:
            return f"{shown}: cannot restore, {display_path(dst)} was changed since the run; left as it is"
        if os.path.lexists(src) and not _is_case_only_rename(dst, src):
            return f"{shown}: cannot restore, another file now has that name; {display_path(dst)} left as it is"
        _makedirs(src.parent)
        move_noreplace(dst, src, st.sha256)
        if catalog is not None:
            try:
                if st.op == "trash" and st.catalog_record is not None:
                    catalog.write_outcomes([record_to_outcome(st.catalog_record, src, os.stat(src))])
                else:
                    catalog.move_path(dst, src)
            except (CatalogError, OSError):
                pass
        report.restored += 1
        return None
    if st.op == "copy":
        assert dst is not None
        if not os.path.lexists(dst):
            report.removed_copies += 1
            return None
        if st.sha256 and sha256_of(dst) != st.sha256:
            return f"{display_path(dst)}: the copy was changed since the run; kept"
        if not os.path.exists(src):
            return f"{display_path(dst)}: kept, because the original {shown} is gone and this is the only copy"
        os.unlink(dst)
        report.removed_copies += 1
        return None
    if st.op == "rewrite":
        return _undo_rewrite(st, report)
    if st.op == "write-new":
        return _undo_write_new(st, report)
    if st.op == "hardlink":
        keeper, trash = dst, st.trash
        if trash is None or not os.path.lexists(trash):
            return f"{shown}: cannot restore, its saved bytes are gone from the trash"
        if st.sha256 and sha256_of(trash) != st.sha256:
            return f"{shown}: saved bytes in the trash do not match; left as it is"
        if os.path.lexists(src):
            same = keeper is not None and os.path.exists(keeper) and os.path.samefile(src, keeper)
            if not same:
                return f"{shown}: a different file now has that name; saved bytes left in {display_path(trash)}"
            os.unlink(src)
        rename_noreplace(trash, src)
        report.restored += 1
        return None
    return f"{shown}: unknown operation {st.op!r}"


def _undo_rewrite(st: _StepState, report: UndoReport) -> str | None:
    """Put the original bytes back, checking first that the file still holds what the run wrote and
    that the backup holds what was there before."""
    src, backup = st.src, st.dst
    shown = display_path(src)
    if backup is None or not os.path.lexists(backup):
        return f"{shown}: cannot restore, its original bytes are gone from the backup"
    if not os.path.lexists(src):
        return f"{shown}: cannot restore, the file is gone (was it moved or deleted since?); original kept in " \
               f"{display_path(backup)}"
    if st.new_sha256 and sha256_of(src) != st.new_sha256:
        return f"{shown}: was changed since the run; left as it is (original kept in {display_path(backup)})"
    if st.sha256 and sha256_of(backup) != st.sha256:
        return f"{shown}: the backup does not hold the original bytes; left as it is"
    tmp = src.with_name(f"{TEMP_MARK}{secrets.token_hex(4)}-{src.name}"[:255])
    try:
        try:
            os.link(backup, tmp)
        except OSError:
            shutil.copy2(backup, tmp)
            with open(tmp, "rb+", buffering=0) as f:
                os.fsync(f.fileno())
            if st.sha256 and sha256_of(tmp) != st.sha256:
                raise JournalError(f"{shown}: the restored copy does not read back identically")
        os.replace(tmp, src)
    except BaseException:
        remove_quietly(tmp)
        raise
    remove_quietly(backup)
    report.restored += 1
    return None


def _undo_write_new(st: _StepState, report: UndoReport) -> str | None:
    """A file the run created goes to the trash (never deleted outright), if it is unchanged."""
    dst = st.dst
    if dst is None or not os.path.lexists(dst):
        report.removed_copies += 1
        return None
    if st.new_sha256 and sha256_of(dst) != st.new_sha256:
        return f"{display_path(dst)}: was changed since the run; kept"
    trash = st.trash
    if trash is None:
        return f"{display_path(dst)}: no trash folder known for this run; kept"
    _makedirs(trash.parent)
    move_noreplace(dst, trash, st.new_sha256)
    report.removed_copies += 1
    return None


def _remove_empty_dirs(dirs: Iterable[Path]) -> int:
    removed = 0
    for d in sorted(dirs, key=lambda d: len(os.fsencode(d)), reverse=True):
        try:
            os.rmdir(d)
            removed += 1
        except OSError:
            pass
    return removed


def _prune_empty_tree(root: Path) -> None:
    for folder, _subdirs, _files in os.walk(root, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:
            pass


def purge_trash(state_dir: Path, run_id: str) -> int:
    """Really delete what a run put in the trash (after the user asked for it). Returns files deleted."""
    root = Path(state_dir) / "trash" / run_id
    n = 0
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.unlink(os.path.join(folder, name))
            n += 1
        os.rmdir(folder)
    return n


def iter_steps(path: Path) -> Iterator[dict[str, Any]]:
    """The final state of each step of a journal, as plain dicts (for `history --json`)."""
    p = _read_journal(path)
    for st in sorted(p.steps.values(), key=lambda s: s.n):
        yield {"n": st.n, "op": st.op, "src": display_path(st.src), "dst": display_path(st.dst) if st.dst else None,
               "status": st.status, "size": st.size, "sha256": st.sha256}
