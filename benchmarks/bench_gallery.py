"""Gallery build and catalog export figures.

    python benchmarks/bench_gallery.py [-n 10000] [--size 4000x3000] [--rows 500000]

1. Gallery build for N photos: thumbnails per second on all cores (preview 1600 px + 512/256-px WebP grid
   thumbnails, one decode per photo), then the incremental rebuild after 100 new photos.
   The photos are made from a few generated 12-MP scenes, each file with its own EXIF date, so every file
   has its own bytes (and thumbnails) while generation stays fast.
2. `export catalog` of a synthetic catalog with --rows rows (records copied from a real analysed photo):
   seconds and peak memory (max RSS of the exporting process) for CSV and Parquet, at rows/10 and rows,
   so a flat memory curve is visible.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from imgengine.testing.samples import camera_exif, scene  # noqa: E402


def make_photos(folder: Path, n: int, size: tuple[int, int], start: int = 0) -> None:
    import piexif

    folder.mkdir(parents=True, exist_ok=True)
    bases = []
    for seed in range(8):
        buf = io.BytesIO()
        scene(*size, seed=seed).save(buf, "JPEG", quality=90)
        bases.append(buf.getvalue())
    t0 = dt.datetime(2015, 1, 1)
    for i in range(start, start + n):
        exif = camera_exif(when=t0 + dt.timedelta(minutes=37 * i))
        out = io.BytesIO()
        piexif.insert(exif, bases[i % len(bases)], out)
        (folder / f"IMG_{i:06d}.jpg").write_bytes(out.getvalue())


def run(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def bench_gallery(n: int, size: tuple[int, int], workdir: Path) -> None:
    from imgengine.core.catalog import Catalog
    from imgengine.plugins.builtin.gallery import GalleryOptions, build_gallery

    photos, cat, site = workdir / "photos", workdir / "cat.db", workdir / "site"
    t = time.perf_counter()
    make_photos(photos, n, size)
    print(f"generated {n} JPEGs of {size[0]}x{size[1]} in {time.perf_counter() - t:.1f} s")
    exe = [sys.executable, "-m", "imgengine.cli.app"]
    secs = run(exe + ["analyze", str(photos), "--catalog", str(cat), "--no-vision", "--analyzers", "metadata,hashes"])
    print(f"analyze (metadata + hashes): {secs:.1f} s")
    cores = len(os.sched_getaffinity(0))
    with Catalog(cat, readonly=True) as c:
        report = build_gallery(c.stream_records(photos), site, GalleryOptions(), root=photos)
    print(f"gallery build, {report.photos} photos on {cores} cores: {report.seconds:.1f} s; thumbnails "
          f"{report.thumbnails_made} in {report.thumb_seconds:.1f} s = {report.thumbs_per_second:.1f} photos/s "
          f"({report.thumbs_per_second / cores:.1f} per core); failures {len(report.thumbnail_failures)}")
    data_mb = (site / "data" / "photos.js").stat().st_size / 1e6
    print(f"data file: {data_mb:.2f} MB ({data_mb * 1e6 / max(1, report.photos):.0f} bytes per photo)")
    make_photos(photos, 100, size, start=n)
    run(exe + ["analyze", str(photos), "--catalog", str(cat), "--no-vision", "--analyzers", "metadata,hashes"])
    with Catalog(cat, readonly=True) as c:
        again = build_gallery(c.stream_records(photos), site, GalleryOptions(), root=photos)
    print(f"incremental rebuild after 100 new photos: {again.seconds:.2f} s "
          f"({again.thumbnails_made} made, {again.thumbnails_reused} reused)")


def synthetic_catalog(path: Path, rows: int, template: dict) -> None:
    """A catalog of ``rows`` photos whose results copy ``template``'s (a real photo's records)."""
    from imgengine.core.catalog import Catalog

    with Catalog(path) as c:
        db = c.db
        now = time.time()
        results = [(name, data.pop("_version", "1"), json.dumps(data)) for name, data in template["results"].items()]
        db.execute("BEGIN")
        for i in range(rows):
            key = f"/photos/{i // 1000:04d}/IMG_{i:07d}.jpg".encode()
            cur = db.execute("INSERT INTO photos (path, display_path, size, mtime_ns, format, sha256, status, "
                             "analyzed_at, updated_at) VALUES (?, ?, ?, ?, 'jpeg', ?, 'ok', ?, ?)",
                             (key, key.decode(), 2_800_000 + i, i, f"{i:064x}", now, now))
            pid = cur.lastrowid
            db.executemany("INSERT INTO results (photo_id, analyzer, version, data, error, updated_at) "
                           "VALUES (?, ?, ?, ?, NULL, ?)", [(pid, n, v, d, now) for n, v, d in results])
            if i % 50_000 == 49_999:
                db.execute("COMMIT")
                db.execute("BEGIN")
        db.execute("COMMIT")


EXPORT_CHILD = """
import sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from imgengine.core.catalog import Catalog
from imgengine.plugins.builtin.exports import export_records
t = time.perf_counter()
with Catalog(Path({cat!r}), readonly=True) as c:
    n = export_records(c.stream_records(), Path({out!r}), {fmt!r})
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]  # kB, this exec only
print(n, time.perf_counter() - t, hwm)
"""


def bench_export(rows: int, workdir: Path) -> None:
    from imgengine.core.catalog import Catalog

    sample = workdir / "one"
    make_photos(sample, 1, (4000, 3000))
    cat1 = workdir / "one.db"
    subprocess.run([sys.executable, "-m", "imgengine.cli.app", "analyze", str(sample), "--catalog", str(cat1),
                    "--no-vision"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Catalog(cat1, readonly=True) as c:
        template = next(c.stream_records())
    for count in (rows // 10, rows):
        cat = workdir / f"synthetic-{count}.db"
        t = time.perf_counter()
        synthetic_catalog(cat, count, json.loads(json.dumps(template, default=str)))
        print(f"synthetic catalog of {count:,} photos built in {time.perf_counter() - t:.1f} s "
              f"({cat.stat().st_size / 1e6:.0f} MB)")
        for fmt in ("csv", "parquet"):
            out = workdir / f"export-{count}.{fmt}"
            code = EXPORT_CHILD.format(src=str(ROOT / "src"), cat=str(cat), out=str(out), fmt=fmt)
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
            if res.returncode != 0:
                print(f"export {fmt} failed: {res.stderr.strip().splitlines()[-1:]}")
                continue
            n, secs, rss_kb = res.stdout.split()
            print(f"export {fmt:8s} {int(n):>9,} rows: {float(secs):6.1f} s, {int(n) / float(secs):8,.0f} rows/s, "
                  f"peak RSS {int(rss_kb) / 1024:.0f} MB, file {out.stat().st_size / 1e6:.0f} MB")
        cat.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000, help="photos in the gallery build")
    ap.add_argument("--size", default="4000x3000", help="photo size WxH")
    ap.add_argument("--rows", type=int, default=500_000, help="catalog rows for the export benchmark")
    ap.add_argument("--skip-gallery", action="store_true")
    ap.add_argument("--skip-export", action="store_true")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"machine: {os.cpu_count()} CPUs, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB;"
          f" load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_gallery:
            bench_gallery(args.n, (w, h), Path(tmp))
        if not args.skip_export:
            bench_export(args.rows, Path(tmp))
    print(f"benchmark process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
