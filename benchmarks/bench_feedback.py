#!/usr/bin/env python3
"""Benchmark the feedback loop's reading side on a large errors.jsonl.

Writes N error records made from real exceptions raised in a real plugin file (a few distinct bugs, old
records without the plugin fields, so grouping has to parse each traceback), then measures:

* the floor: reading the file with ``json.loads`` per line;
* grouping (``read_error_records`` + ``group_errors``), as a ratio to the floor;
* suggesting a fix for every group (libcst parse + pattern match + diff), per group.

    python benchmarks/bench_feedback.py [-n 100000]

One bug in five names the photo in its message (no two tracebacks alike). Target: grouping within 5x
the plain JSON read; a suggestion well under a second per group.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from imgengine.feedback.grouping import group_errors
from imgengine.feedback.learning import learn
from imgengine.feedback.loop import Options, suggest
from imgengine.feedback.recheck import load_module
from imgengine.feedback.records import read_error_records
from imgengine.feedback.safety import allowed_roots
from imgengine.logs import error_record

PLUGIN = '''\
def ratio(a, b):
    return a / b


def caption(meta):
    return meta.get("caption").strip()


def first(boxes):
    return boxes[0]


def maker(exif):
    return exif["Make"]


def sidecar(path):
    with open(path + ".xmp") as fh:
        return fh.read()
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100_000)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plugins, logs = tmp / "plugins", tmp / "logs"
        plugins.mkdir()
        logs.mkdir()
        (plugins / "buggy.py").write_text(PLUGIN, encoding="utf-8")
        mod = load_module(plugins / "buggy.py")
        calls = [(mod.ratio, (1.0, 0.0)), (mod.caption, ({},)), (mod.first, ([],)), (mod.maker, ({},)),
                 (mod.sidecar, ("/photos/0.jpg",))]
        lines = []
        for i, (fn, args) in enumerate(calls):
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001
                lines.append(error_record("r1", f"/photos/{i}.jpg", "buggy", exc).to_dict())
        with open(logs / "errors.jsonl", "w", encoding="utf-8") as fh:
            for k in range(ns.n):
                rec = dict(lines[k % len(lines)], file=f"/photos/{k}.jpg", run_id=f"run{k // 10_000}")
                if "xmp" in rec["message"]:   # a message naming the photo: every traceback text differs
                    rec["message"] = rec["message"].replace("/photos/0.jpg", f"/photos/{k}.jpg")
                    rec["traceback"] = rec["traceback"].replace("/photos/0.jpg", f"/photos/{k}.jpg")
                fh.write(json.dumps(rec) + "\n")
        size = (logs / "errors.jsonl").stat().st_size

        t = time.perf_counter()
        with open(logs / "errors.jsonl", encoding="utf-8") as fh:
            floor = sum(1 for line in fh if json.loads(line))
        t_floor = time.perf_counter() - t

        t = time.perf_counter()
        groups = group_errors(read_error_records(logs))
        t_group = time.perf_counter() - t

        stats = learn([], {})
        opts = Options(allowed_roots([plugins]), 0.6)
        t = time.perf_counter()
        fixes = [suggest(g, opts, [], stats) for g in groups]
        t_suggest = time.perf_counter() - t

    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()} "
          "(shared, busy machine: figures are indicative)")
    print(f"errors.jsonl: {ns.n:,} records, {size / 1e6:.1f} MB, {len(groups)} groups")
    print(f"plain json read:  {t_floor:.2f} s ({floor / t_floor:,.0f} records/s)")
    print(f"group_errors:     {t_group:.2f} s ({ns.n / t_group:,.0f} records/s) = "
          f"{t_group / t_floor:.2f}x the plain read")
    print(f"suggest:          {t_suggest / len(groups) * 1000:.0f} ms per group "
          f"({sum(s.fix is not None for s in fixes)}/{len(groups)} with a fix)")


if __name__ == "__main__":
    main()
