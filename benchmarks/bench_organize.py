"""Benchmark: plan + apply + undo of `organize --move` for N generated small JPEGs (default 10,000).

Prints files/s for each phase. Targets (issue 6): >= 2,000 files/s for moves on one file system, and a
plan of 10,000 files from the catalog in <= 2 s. Also the cost of a ``file_moved`` listener on the same
moves (issue 9), as a ratio to the moves without one in the same process.

    python benchmarks/bench_organize.py [--files 10000] [--dir /tmp] [--keep]

The photos get distinct DateTimeOriginal values (spread over 3 years), a camera make/model, and every
tenth has an .xmp sidecar. They are analysed once (metadata + hashes) into the catalog, which the plan
then reads. The figures depend on the disk: the journal fsyncs its planned records (one fsync per 256
steps) and its finish record.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import piexif
from PIL import Image

from imgengine.core.catalog import Catalog
from imgengine.engine.run import run_analysis
from imgengine.processors.journal import Journal, undo
from imgengine.processors.organize import plan_organize
from imgengine.processors.plan import apply_plan
from imgengine.settings import Settings


def make_photos(folder: Path, n: int) -> int:
    """n small JPEGs with EXIF (one encode, the EXIF block swapped per file); returns sidecars made."""
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 80, 40)).save(buf, "JPEG", quality=80)
    base = buf.getvalue()
    start = datetime(2019, 1, 1, 8, 0, 0)
    sidecars = 0
    for i in range(n):
        sub = folder / f"dump{i % 20:02d}"
        if i < 20:
            sub.mkdir(parents=True, exist_ok=True)
        when = start + timedelta(minutes=157 * i)
        exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS 5D"},
                            "Exif": {piexif.ExifIFD.DateTimeOriginal: when.strftime("%Y:%m:%d %H:%M:%S").encode()}})
        out = io.BytesIO()
        piexif.insert(exif, base + i.to_bytes(4, "big"), out)   # trailing bytes keep every file distinct
        (sub / f"IMG_{i:05d}.JPG").write_bytes(out.getvalue())
        if i % 10 == 0:
            (sub / f"IMG_{i:05d}.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
            sidecars += 1
    return sidecars


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, default=None, help="where to generate (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-organize-", dir=args.dir))
    src, lib = root / "dump", root / "library"
    try:
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
              f"{platform.python_version()}, {sys.platform}; folder {root}")
        t = time.perf_counter()
        sidecars = make_photos(src, args.files)
        print(f"generated {args.files:,} JPEGs + {sidecars:,} sidecars in {time.perf_counter() - t:.1f}s")

        settings = Settings(analyzers=("metadata", "hashes"), log_dir=root / "logs", quiet=True)
        t = time.perf_counter()
        run_analysis(src, settings)
        print(f"analysed (metadata, hashes) into the catalog in {time.perf_counter() - t:.1f}s")
        cat = Catalog(src / ".imgengine" / "catalog.db")

        # plan from the catalog
        t = time.perf_counter()
        plan = plan_organize(src, lib, settings, cat, by="date", layout="{date:%Y}/{date:%m}", op="move")
        plan_s = time.perf_counter() - t
        todo = len(plan.todo)
        print(f"plan (from the catalog): {todo:,} files in {plan_s:.2f}s = {todo / plan_s:,.0f} files/s "
              f"(target: 10,000 in <= 2 s)")

        # plan without the catalog (headers read from the files), for comparison
        t = time.perf_counter()
        plan_organize(src, lib, settings, None, by="date", layout="{date:%Y}/{date:%m}", op="move")
        cold_s = time.perf_counter() - t
        print(f"plan (no catalog, headers read): {todo:,} files in {cold_s:.2f}s = {todo / cold_s:,.0f} files/s")

        # apply (moves on one file system, through the journal, catalog updated)
        t = time.perf_counter()
        j = Journal.begin(lib / ".imgengine", "organize", {"bench": True}, cat)
        results = apply_plan(plan, j)
        j.finish()
        apply_s = time.perf_counter() - t
        done = sum(1 for r in results if r.status == "done")
        assert done == todo, f"{todo - done} steps not done"
        print(f"apply (move): {done:,} files in {apply_s:.2f}s = {done / apply_s:,.0f} files/s "
              f"(target >= 2,000 files/s)")

        # undo (sha256 of every file checked before it is moved back)
        t = time.perf_counter()
        rep = undo(lib / ".imgengine", j.run_id, catalog=cat)
        undo_s = time.perf_counter() - t
        assert rep.ok and rep.restored == done, rep.problems[:3]
        print(f"undo: {rep.restored:,} files in {undo_s:.2f}s = {rep.restored / undo_s:,.0f} files/s")
        total = plan_s + apply_s + undo_s
        print(f"plan + apply + undo: {total:.2f}s for {todo:,} files = {todo / total:,.0f} files/s overall")

        # the same moves with a file_moved listener (what a plugin implementing it costs: the moved files'
        # folders fsynced once per chunk of 256 steps, then one call per file)
        heard: list[tuple[Path, Path, str]] = []
        plan = plan_organize(src, lib, settings, cat, by="date", layout="{date:%Y}/{date:%m}", op="move")
        t = time.perf_counter()
        j = Journal.begin(lib / ".imgengine", "organize", {"bench": "listener"}, cat,
                          on_moved=lambda s, d, k: heard.append((s, d, k)))
        results = apply_plan(plan, j)
        j.finish()
        listen_s = time.perf_counter() - t
        done = sum(1 for r in results if r.status == "done")
        assert len(heard) == done, (len(heard), done)
        print(f"apply (move) with a file_moved listener: {done:,} files in {listen_s:.2f}s = "
              f"{done / listen_s:,.0f} files/s ({listen_s / apply_s:.2f}x the time without)")
        t = time.perf_counter()
        rep = undo(lib / ".imgengine", j.run_id, catalog=cat, on_moved=lambda s, d, k: heard.append((s, d, k)))
        assert rep.ok and len(heard) == 2 * done
        print(f"undo with the listener: {rep.restored:,} files in {time.perf_counter() - t:.2f}s")

        # for comparison: --copy (each copy fsynced and read back to verify its sha256)
        plan = plan_organize(src, lib, settings, cat, by="date", layout="{date:%Y}/{date:%m}", op="copy")
        t = time.perf_counter()
        j = Journal.begin(lib / ".imgengine", "organize", {"bench": "copy"}, cat)
        results = apply_plan(plan, j)
        j.finish()
        copy_s = time.perf_counter() - t
        done = sum(1 for r in results if r.status == "done")
        print(f"apply (copy, verified): {done:,} files in {copy_s:.2f}s = {done / copy_s:,.0f} files/s")
        t = time.perf_counter()
        rep = undo(lib / ".imgengine", j.run_id, catalog=cat)
        print(f"undo (copy: verify and remove copies): {rep.removed_copies:,} files in "
              f"{time.perf_counter() - t:.2f}s")
        cat.close()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
