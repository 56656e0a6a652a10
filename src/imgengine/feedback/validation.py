"""Is a rewritten file still good? Four checks, each in a fresh process (a rewrite can hang or crash):

1. **import**: the module still imports;
2. **ruff**: ``ruff check`` reports nothing the file did not already have before the fix;
3. **check command**: the configured command (``feedback_check_command``, ``{file}`` replaced by the
   path), else the tests that cover the module (``test_<name>.py`` beside it or in a ``tests/`` folder
   next to it or above it), else skipped;
4. **re-run**: the photos whose errors made the group go through the stage that failed again, and now
   succeed with a result of the right shape.

A requirements or config change is checked for what it is (the file parses; the settings load).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .records import innermost_user_frame

IMPORT_SNIPPET = "import sys; from imgengine.feedback.recheck import load_module; load_module(sys.argv[1])"


@dataclass
class Check:
    name: str
    status: str          # passed | failed | skipped
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent.parent.parent)   # our own src first, as the parent runs
    env["PYTHONPATH"] = os.pathsep.join([here, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def _run(cmd: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=cwd,
                          errors="replace")


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def check_import(file: Path, timeout: float = 120) -> Check:
    try:
        p = _run([sys.executable, "-c", IMPORT_SNIPPET, str(file)], timeout)
    except subprocess.TimeoutExpired:
        return Check("import", "failed", f"importing took over {timeout:.0f} s")
    if p.returncode != 0:
        return Check("import", "failed", _tail(p.stderr))
    return Check("import", "passed")


def ruff_diagnostics(file: Path, timeout: float = 60) -> list[tuple[str, str]] | None:
    """(code, message) of each problem ``ruff check`` reports, or None when ruff cannot run."""
    try:
        p = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "json", str(file)],
                 timeout, cwd=Path(file).parent)
    except (subprocess.TimeoutExpired, OSError):
        return None
    try:
        data = json.loads(p.stdout or "[]")
    except json.JSONDecodeError:
        return None
    return [(str(d.get("code")), str(d.get("message"))) for d in data]


def check_ruff(file: Path, before: list[tuple[str, str]] | None) -> Check:
    after = ruff_diagnostics(file)
    if after is None:
        return Check("ruff", "failed", "ruff could not check the file (is ruff installed?)")
    new = Counter(after) - Counter(before or [])
    if new:
        return Check("ruff", "failed", "; ".join(f"{c}: {m}" for c, m in list(new.elements())[:5]))
    old = len(after)
    return Check("ruff", "passed", f"{old} problem(s) it already had" if old else "")


def covering_tests(file: Path) -> list[Path]:
    file = Path(file).resolve()
    name = f"test_{file.stem}.py"
    found = []
    for folder in list(file.parents)[:4]:
        for cand in (folder / name, folder / "tests" / name):
            if cand.is_file() and cand not in found:
                found.append(cand)
    return found


def check_command(file: Path, command: str | None, timeout: float = 600) -> Check:
    if command:
        cmd = [part.replace("{file}", str(file)) for part in shlex.split(command)]
        what = command
    else:
        tests = covering_tests(file)
        if not tests:
            return Check("check command", "skipped", "no check command configured and no tests cover this file")
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *map(str, tests)]
        what = "pytest " + " ".join(t.name for t in tests)
    try:
        p = _run(cmd, timeout, cwd=Path(file).parent)
    except subprocess.TimeoutExpired:
        return Check("check command", "failed", f"{what}: over {timeout:.0f} s")
    except OSError as exc:
        return Check("check command", "failed", f"{what}: {exc}")
    if p.returncode != 0:
        return Check("check command", "failed", f"{what} exited {p.returncode}: {_tail(p.stdout + p.stderr)}")
    return Check("check command", "passed", what)


def check_rerun(file: Path, stage: str, photos: list[Path], timeout: float = 600,
                known: set[tuple[str, str]] = frozenset()) -> Check:
    """``known``: (exception type, source line text) of *other* logged bugs in this file. A photo that
    now gets past the fixed line and stops at one of those is a success for this fix (that bug is its
    own group, fixed on its own); failing at this group's line or anywhere new is not."""
    photos = [p for p in photos if os.path.exists(p)]
    if not photos:
        return Check("re-run", "skipped", "none of the failing photos is still there")
    try:
        p = _run([sys.executable, "-m", "imgengine.feedback.recheck", "--file", str(file), "--analyzer", stage,
                  *map(str, photos)], timeout)
    except subprocess.TimeoutExpired:
        return Check("re-run", "failed", f"re-running {len(photos)} photo(s) took over {timeout:.0f} s")
    try:
        report = json.loads(p.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return Check("re-run", "failed", _tail(p.stderr) or "the re-run printed no report")
    if "error" in report:
        return Check("re-run", "failed", report["error"])
    if "skipped" in report:
        return Check("re-run", "skipped", report["skipped"])
    lines = Path(file).read_text(encoding="utf-8").splitlines()
    bad, elsewhere = [], 0
    for r in report["results"]:
        if r["ok"]:
            continue
        frame = innermost_user_frame(r.get("traceback") or "")
        etype = (r.get("error") or "").split(":", 1)[0]
        if frame is not None and Path(frame.file).resolve() == Path(file).resolve() \
                and 0 < frame.line <= len(lines) and (etype, lines[frame.line - 1].strip()) in known:
            elsewhere += 1
            continue
        bad.append(r)
    if bad:
        return Check("re-run", "failed", f"{len(bad)} of {len(photos)} photo(s) still fail: {bad[0]['error']}")
    detail = f"{len(photos) - elsewhere} photo(s) through {report['analyzer']} now succeed"
    if elsewhere:
        detail += f"; {elsewhere} get past the fixed line and stop at another logged bug of this file"
    return Check("re-run", "passed", detail)


def check_requirements(file: Path) -> Check:
    from packaging.requirements import InvalidRequirement, Requirement

    for line in Path(file).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            try:
                Requirement(line)
            except InvalidRequirement as exc:
                return Check("requirements", "failed", f"{line!r}: {exc}")
    return Check("requirements", "passed")
