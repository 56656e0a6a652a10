"""Gallery build and catalog export figures.

    python benchmarks/bench_gallery.py [-n 10000] [--size 4000x3000] [--rows 500000]

1. Gallery build for N photos (preview 1600 px + 512/256-px WebP grid thumbnails), two ways: (A) the gallery
   decodes every photo again after analyze, (B) analyze's thumbnails analyzer writes them from its own
   decode and the gallery links them. Wall and CPU seconds and thumbnails/s, for the gallery step and end to
   end; then the incremental analyze + rebuild after 100 changed photos, both ways.
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


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (analyze subprocesses, thumbnail workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, *args):
    """(result, wall seconds, CPU seconds) of ``fn(*args)``."""
    t, c = time.perf_counter(), cpu_seconds()
    out = fn(*args)
    return out, time.perf_counter() - t, cpu_seconds() - c


def analyze(photos: Path, cat: Path, thumbnails: bool, cache: Path) -> None:
    cmd = [sys.executable, "-m", "imgengine.cli.app", "analyze", str(photos), "--catalog", str(cat), "--no-vision",
           "--analyzers", "metadata,hashes" + (",thumbnails" if thumbnails else ""), "-q"]
    env = {**os.environ, "IMGENGINE_PLUGINS__THUMBNAILS__CACHE_DIR": str(cache)}
    res = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"analyze failed: {res.stderr.strip()[-500:]}")


def build(cat: Path, photos: Path, site: Path, cache: Path | None):
    from imgengine.core.catalog import Catalog
    from imgengine.plugins.builtin.gallery import GalleryOptions, build_gallery

    with Catalog(cat, readonly=True) as c:
        return build_gallery(c.stream_records(photos), site, GalleryOptions(cache_dir=cache), root=photos)


def change_photos(folder: Path, n: int, size: tuple[int, int]) -> None:
    """Give the first ``n`` photos new bytes (another scene and date): what an edit in another program does."""
    import piexif

    buf = io.BytesIO()
    scene(*size, seed=99).save(buf, "JPEG", quality=90)
    for i in range(n):
        out = io.BytesIO()
        piexif.insert(camera_exif(when=dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i)), buf.getvalue(), out)
        (folder / f"IMG_{i:06d}.jpg").write_bytes(out.getvalue())


def bench_gallery(n: int, size: tuple[int, int], workdir: Path, changed: int = 100) -> None:
    """Two ways to the same site, on the same photos:

    A. analyze (metadata + hashes, 1/8-scale draft decode), then the gallery decodes each photo again at
       preview size (draft 1/2) and makes the thumbnails;
    B. analyze with the thumbnails analyzer (one decode at preview size, thumbnails into the cache), then
       the gallery links the cached files and decodes nothing.
    Thumbnails/s are given for the gallery step alone and end to end (analyze + gallery), wall and CPU
    (CPU includes the analyze subprocess and the thumbnail worker processes)."""
    photos = workdir / "photos"
    t = time.perf_counter()
    make_photos(photos, n, size)
    print(f"generated {n} JPEGs of {size[0]}x{size[1]} in {time.perf_counter() - t:.1f} s")
    cores = len(os.sched_getaffinity(0))
    for label, thumbnails in (("A gallery decodes again", False), ("B thumbnails from analyze", True)):
        tag = "b" if thumbnails else "a"
        cat, site, cache = workdir / f"cat-{tag}.db", workdir / f"site-{tag}", workdir / f"cache-{tag}"
        _, aw, ac = timed(analyze, photos, cat, thumbnails, cache)
        report, gw, gc = timed(build, cat, photos, site, cache if thumbnails else None)
        made = report.thumbnails_made + report.thumbnails_cached
        print(f"{label}: analyze {aw:.1f} s wall / {ac:.1f} s CPU; gallery {gw:.1f} s wall / {gc:.1f} s CPU "
              f"({report.thumbnails_made} decoded, {report.thumbnails_cached} from cache, "
              f"{len(report.thumbnail_failures)} failures) on {cores} cores")
        print(f"  thumbnails/s: gallery step {made / gw:.1f} (wall) {made / max(gc, 1e-9):.1f} (per CPU-s); "
              f"end to end {made / (aw + gw):.1f} (wall) {made / max(ac + gc, 1e-9):.1f} (per CPU-s)")
    change_photos(photos, changed, size)
    for label, thumbnails in (("A", False), ("B", True)):
        tag = "b" if thumbnails else "a"
        cat, site, cache = workdir / f"cat-{tag}.db", workdir / f"site-{tag}", workdir / f"cache-{tag}"
        _, aw, ac = timed(analyze, photos, cat, thumbnails, cache)
        again, gw, gc = timed(build, cat, photos, site, cache if thumbnails else None)
        print(f"incremental {label} after {changed} changed photos: analyze {aw:.1f} s wall / {ac:.1f} s CPU; "
              f"gallery {gw:.2f} s wall / {gc:.2f} s CPU ({again.thumbnails_made} decoded, "
              f"{again.thumbnails_cached} from cache, {again.thumbnails_reused} reused)")
    data_mb = (workdir / "site-a" / "data" / "photos.js").stat().st_size / 1e6
    print(f"data file: {data_mb:.2f} MB ({data_mb * 1e6 / max(1, n):.0f} bytes per photo)")


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
    ap.add_argument("--changed", type=int, default=100, help="photos changed before the incremental rebuild")
    ap.add_argument("--skip-gallery", action="store_true")
    ap.add_argument("--skip-export", action="store_true")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"machine: {os.cpu_count()} CPUs, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB;"
          f" load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_gallery:
            bench_gallery(args.n, (w, h), Path(tmp), args.changed)
        if not args.skip_export:
            bench_export(args.rows, Path(tmp))
    print(f"benchmark process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
