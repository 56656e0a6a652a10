"""Where the loop may write, and whether a file is still the one the error came from."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

from .fixlog import FixRecord, sha256_bytes
from .grouping import ErrorGroup


def core_source_root() -> Path | None:
    """imgengine's own ``src/`` when it runs from an editable install (a checkout), else None."""
    pkg = Path(__file__).resolve().parent.parent
    src = pkg.parent
    if "site-packages" in pkg.parts or "dist-packages" in pkg.parts:
        return None
    if src.name == "src" and (src.parent / "pyproject.toml").is_file():
        return src
    return None


def allowed_roots(plugin_dirs: Iterable[Path], allow_core: bool = False) -> list[Path]:
    roots = [Path(os.path.abspath(p)).resolve() for p in plugin_dirs]
    if allow_core:
        core = core_source_root()
        if core is not None:
            roots.append(core)
    return roots


def refusal(file: Path, roots: Iterable[Path]) -> str | None:
    """Why ``file`` may not be rewritten, or None when it may."""
    path = Path(os.path.abspath(file))
    if path.is_symlink():
        return "it is a symbolic link"
    resolved = path.resolve()
    if "site-packages" in resolved.parts or "dist-packages" in resolved.parts:
        return "it is an installed package (site-packages)"
    if not resolved.is_file():
        return "it no longer exists"
    for root in roots:
        if resolved.is_relative_to(root):
            return None
    core = core_source_root()
    if core is not None and resolved.is_relative_to(core):
        return "it is imgengine's own source (pass --allow-core to let the loop fix it)"
    return "it is outside the allowed roots (the plugin folders)"


def text_at_error(group: ErrorGroup, file: Path, fixes: list[FixRecord]) -> tuple[str | None, str | None]:
    """The file's text when the error was logged, if the file is still that text or that text changed
    only by fixes this loop kept since; else (None, why)."""
    try:
        current = Path(file).read_bytes()
    except OSError as exc:
        return None, f"cannot read it: {exc.strerror or exc}"
    cur_sha = sha256_bytes(current)
    on_file = sorted((r for r in fixes if r.file == Path(file)), key=lambda r: r["time"])
    mine = [r for r in on_file if r.outcome == "kept"]
    origin = group.source_sha256
    if origin is None:
        # an older record without the source's hash: the file's mtime against the error's time, or what
        # the first fix this loop tried on it since recorded (a rolled-back fix restores the bytes, not
        # the mtime)
        seen = group.last_seen_time()
        mtime = os.stat(file).st_mtime
        if seen is not None and mtime <= seen.timestamp() + 1:
            origin = cur_sha
        else:
            after = [r for r in on_file if seen is not None and r["time"] >= seen.isoformat()]
            origin = after[0]["old_sha256"] if after else None
    if origin is None:
        return None, "the file changed after the error was logged"
    if origin == cur_sha:
        return current.decode("utf-8"), None
    sha, first = origin, None
    while sha != cur_sha:
        nxt = [r for r in mine if r["old_sha256"] == sha]
        if not nxt:
            return None, "the file changed after the error was logged"
        first = first or nxt[-1]
        sha = nxt[-1]["new_sha256"]
    return Path(first["backup"]).read_text(encoding="utf-8"), None


def map_line(old: str, new: str, line: int) -> int | None:
    """Line ``line`` of ``old`` in ``new``, when that line itself is unchanged."""
    if old == new:
        return line
    a, b = old.splitlines(), new.splitlines()
    for tag, i1, i2, j1, _j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal" and i1 < line <= i2:
            return j1 + (line - i1)
    return None
