"""Runtime recovery, reported beside the source fixes: repeated GPU out-of-memory → a lower ``batch_size``.

At run time an out-of-memory halves the batch and retries (``engine/batching.run_chunked``), and the
run's summary records ``vision.oom_retries`` and the batch sizes it ended with. When that happened in at
least ``min_runs`` runs on one device, the loop proposes ``batch_size: <the largest size that worked in
every one of them>`` in the config file, so later runs start there instead of failing their way down.
The change is made like a source fix: backed up, recorded in ``fixes.jsonl``, validated (the settings
still load and say the new size) and rolled back otherwise. YAML comments are kept: only the
``batch_size:`` line is replaced, or one is appended.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PATTERN = "config-batch-size"
_LINE = re.compile(r"^batch_size\s*:.*$", re.M)


@dataclass
class OomRun:
    run_id: str
    device: str
    oom_retries: int
    batch_sizes: dict[str, int]


def oom_runs(log_dir: Path, since: dt.datetime | None = None) -> list[OomRun]:
    out = []
    for path in sorted(Path(log_dir).glob("*_summary.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        vision = data.get("vision") if isinstance(data, dict) else None
        if not isinstance(vision, dict) or not vision.get("oom_retries"):
            continue
        if since is not None:
            started = data.get("started")
            t = dt.datetime.fromtimestamp(started).astimezone() if isinstance(started, (int, float)) else None
            if t is not None and t < since:
                continue
        sizes = {k: int(v) for k, v in (vision.get("batch_size") or {}).items() if isinstance(v, int)}
        out.append(OomRun(str(data.get("run_id") or path.stem), str(vision.get("device") or "?"),
                          int(vision["oom_retries"]), sizes))
    return out


@dataclass
class ConfigChange:
    device: str
    runs: list[str]
    retries: int
    batch_size: int
    config: Path
    old_text: str
    new_text: str

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "runs": self.runs, "oom_retries": self.retries,
                "batch_size": self.batch_size, "config": str(self.config)}


def current_batch_size(text: str) -> int | None:
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    value = data.get("batch_size") if isinstance(data, dict) else None
    try:
        return int(value) if value not in (None, "auto", "") else None
    except (TypeError, ValueError):
        return None


def propose(log_dir: Path, config: Path, since: dt.datetime | None = None, min_runs: int = 2) -> ConfigChange | None:
    by_device: dict[str, list[OomRun]] = {}
    for run in oom_runs(log_dir, since):
        by_device.setdefault(run.device, []).append(run)
    for device, runs in sorted(by_device.items(), key=lambda kv: -len(kv[1])):
        if len(runs) < min_runs:
            continue
        sizes = [min(r.batch_sizes.values()) for r in runs if r.batch_sizes]
        if not sizes:
            continue
        size = max(1, min(sizes))
        try:
            old = config.read_text(encoding="utf-8")
        except FileNotFoundError:
            old = ""
        now = current_batch_size(old)
        if now is not None and now <= size:
            return None     # already at or below what worked
        retries = sum(r.oom_retries for r in runs)
        comment = f"  # set by imgengine feedback: {retries} out-of-memory retries on {device} in {len(runs)} runs"
        line = f"batch_size: {size}{comment}"
        if _LINE.search(old):
            new = _LINE.sub(line, old, count=1)
        else:
            new = old + ("" if not old or old.endswith("\n") else "\n") + line + "\n"
        return ConfigChange(device, [r.run_id for r in runs], retries, size, config, old, new)
    return None


def validate_config(config: Path, size: int) -> tuple[bool, str]:
    from ..errors import ImgEngineError
    from ..settings import load_settings

    try:
        settings = load_settings(config, environ={})
    except ImgEngineError as exc:
        return False, str(exc)
    if str(settings.batch_size) != str(size):
        return False, f"the settings say batch_size {settings.batch_size}, not {size}"
    return True, f"settings load with batch_size {size}"
