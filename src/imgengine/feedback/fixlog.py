"""``logs/fixes.jsonl``: the journal of every fix the loop applied, and the backups it restores from.

Each fix is a few JSON lines sharing its id:

* ``{"event": "begin", id, time, pattern, fingerprint, file, line, summary, kind, diff, certainty,
  confidence, old_sha256, new_sha256, backup}`` — written and fsynced after the backup
  (``<state>/feedback/backups/<id>/<name>``, also fsynced) and BEFORE the file is replaced;
* ``{"event": "end", id, time, outcome, validation, reason}`` — ``kept`` or ``rolled_back`` (validation
  failed: the backup's bytes are back), or ``interrupted`` (settled after a crash, see below);
* ``{"event": "rollback", id, time, forced}`` — undone by hand with ``imgengine feedback rollback``.

A crash between ``begin`` and ``end`` is settled the next time the loop opens the log: the file holds either
its old bytes (nothing to do) or the new, unvalidated ones (the backup is put back); either way the end
record says which. So after a crash a file is the old one or a validated new one, never a half-checked one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.atomic import fsync_dir, replacing, write_atomic  # noqa: F401  (write_atomic: re-exported)
from ..errors import ImgEngineError


class FeedbackError(ImgEngineError):
    """A fix cannot be applied or undone safely."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    try:
        return sha256_bytes(Path(path).read_bytes())
    except OSError:
        return None


def unified_diff(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{path}", f"b/{path}"))


def now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="microseconds")


@dataclass
class FixRecord:
    """One fix as folded from its events."""

    id: str
    begin: dict[str, Any]
    end: dict[str, Any] | None = None
    rollbacks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.rollbacks:
            return "rolled_back_by_hand"
        return self.end["outcome"] if self.end else "in_progress"

    @property
    def file(self) -> Path:
        return Path(self.begin["file"])

    def __getitem__(self, key: str) -> Any:
        return self.begin[key]

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.begin.items() if k != "event"}
        out.update(outcome=self.outcome, ended=self.end.get("time") if self.end else None,
                   validation=self.end.get("validation") if self.end else None,
                   reason=self.end.get("reason") if self.end else None)
        return out


class FixLog:
    def __init__(self, log_dir: Path, state_dir: Path):
        self.path = Path(log_dir) / "fixes.jsonl"
        self.backups = Path(state_dir) / "feedback" / "backups"

    # -- reading ----------------------------------------------------------------------------------------
    def records(self) -> list[FixRecord]:
        by_id: dict[str, FixRecord] = {}
        try:
            fh = open(self.path, encoding="utf-8")
        except FileNotFoundError:
            return []
        with fh:
            for line in fh:
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue      # a torn last line after a crash
                fid = ev.get("id")
                if ev.get("event") == "begin":
                    by_id[fid] = FixRecord(fid, ev)
                elif fid in by_id and ev.get("event") == "end":
                    by_id[fid].end = ev
                elif fid in by_id and ev.get("event") == "rollback":
                    by_id[fid].rollbacks.append(ev)
        return list(by_id.values())

    def get(self, fix_id: str) -> FixRecord:
        matches = [r for r in self.records() if r.id == fix_id or r.id.startswith(fix_id)]
        if len(matches) != 1:
            raise FeedbackError(f"no fix {fix_id!r} in {self.path}" if not matches
                                else f"{fix_id!r} names {len(matches)} fixes; give more of the id")
        return matches[0]

    # -- writing ----------------------------------------------------------------------------------------
    def _append(self, event: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def new_id(self, pattern: str) -> str:
        return f"{dt.datetime.now():%Y%m%d-%H%M%S}-{pattern}-{secrets.token_hex(2)}"

    def begin(self, fix_id: str, file: Path, old: bytes, new: bytes, info: dict[str, Any]) -> dict[str, Any]:
        """Back ``file`` up (fsynced), then record the intent (fsynced). The caller then replaces it."""
        folder = self.backups / fix_id
        folder.mkdir(parents=True, exist_ok=True)
        backup = folder / Path(file).name
        with open(backup, "wb") as fh:
            fh.write(old)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(folder)
        event = {"event": "begin", "id": fix_id, "time": now_iso(), **info, "file": str(file),
                 "old_sha256": sha256_bytes(old), "new_sha256": sha256_bytes(new), "backup": str(backup)}
        self._append(event)
        return event

    def end(self, fix_id: str, outcome: str, validation: list[dict[str, Any]] | None = None,
            reason: str | None = None) -> None:
        from .records import errors_size

        # errors logged from here on are later than the fix: a recurrence of its fingerprint is a failure
        self._append({"event": "end", "id": fix_id, "time": now_iso(), "outcome": outcome,
                      "validation": validation or [], "reason": reason,
                      "errors_offset": errors_size(self.path.parent)})

    # -- restoring --------------------------------------------------------------------------------------
    def restore(self, rec: FixRecord) -> None:
        """Put the backup's bytes back and check they are byte-identical to the original (a file the fix
        created is removed again)."""
        if rec.begin.get("created"):
            try:
                os.unlink(rec.file)
            except FileNotFoundError:
                pass
            return
        data = Path(rec["backup"]).read_bytes()
        if sha256_bytes(data) != rec["old_sha256"]:
            raise FeedbackError(f"backup of fix {rec.id} is damaged ({rec['backup']}); {rec.file} left as is")
        write_atomic(rec.file, data)
        if sha256_file(rec.file) != rec["old_sha256"]:
            raise FeedbackError(f"{rec.file}: restoring fix {rec.id} did not give back the original bytes")

    def rollback(self, fix_id: str, force: bool = False) -> FixRecord:
        rec = self.get(fix_id)
        if rec.outcome != "kept":
            raise FeedbackError(f"fix {rec.id} is {rec.outcome.replace('_', ' ')}: nothing to roll back")
        current = sha256_file(rec.file)
        if current != rec["new_sha256"] and not force:
            raise FeedbackError(f"{rec.file} changed since fix {rec.id} was applied; "
                                "use --force to put the pre-fix file back anyway")
        self.restore(rec)
        self._append({"event": "rollback", "id": rec.id, "time": now_iso(), "forced": bool(force),
                      "replaced_sha256": current})
        return self.get(rec.id)

    def settle(self) -> list[str]:
        """Finish fixes a crash left between begin and end; returns what was done, one line each."""
        done = []
        for rec in self.records():
            if rec.end is not None:
                continue
            current = sha256_file(rec.file)
            if current == rec["old_sha256"] or (current is None and rec.begin.get("created")):
                self.end(rec.id, "interrupted", reason="interrupted before the file was replaced; old file kept")
                done.append(f"{rec.id}: interrupted before writing; {rec.file} is unchanged")
            elif current == rec["new_sha256"]:
                self.restore(rec)
                self.end(rec.id, "interrupted", reason="interrupted before validation; backup restored")
                done.append(f"{rec.id}: interrupted before validation; {rec.file} restored from its backup")
            else:
                self.end(rec.id, "interrupted", reason="interrupted; the file has changed since, left as is")
                done.append(f"{rec.id}: interrupted; {rec.file} changed since, left as is")
        return done
