"""Agreement of imgengine's metadata analyzer with ExifTool, and metadata-only speed of both.

Usage:  python benchmarks/compare_exiftool.py [FOLDER] [--verbose] [--synthetic N] [--repeat R]

Runs ``exiftool -json -n`` (numeric values) on every image under FOLDER (default ../shared/corpus),
runs ``read_metadata`` on the same files, and compares each of our fields with the ExifTool tag(s) it
stands for. A field counts when ExifTool reports a non-empty value for it; it matches when our value
equals that value (or, where ExifTool reports several candidate tags, e.g. ImageDescription and
XMP Description, any of them) under these rules:

* strings are trimmed; a value ExifTool reports as only whitespace, or an all-zero date, is not counted;
  ExifTool's JSON turns number-like strings (Software "8.3") into numbers: those compare numerically;
* floats: relative tolerance 1e-3; our integer fields (ISO, orientation, size, flash, rating) equal
  ExifTool's value rounded to an integer (Canon's computed ISO is e.g. 64.84; we report 65);
* dates: ExifTool's "YYYY:MM:DD HH:MM:SS[.ss][zone]" and our ISO 8601 are compared on the local date
  and time; sub-seconds and the zone are compared when both sides have them;
* keywords: the same list of trimmed strings.

Where ExifTool's default output shows a maker-note value under a standard tag's name and hides the
standard tag (Kodak DC240: maker-note ExposureTime 0.03111 and FNumber 3.9 over EXIF's 1/30 and 4.0),
ExifTool is the odd one for our purpose: our value counts as a match when it equals ExifTool's own
reading of the standard EXIF/XMP/IPTC tag (``exiftool -a -G1``). The field still counts once.

Beyond EXIF/XMP/IPTC we read what old cameras wrote instead: ISO from Canon and Casio maker notes and
the lens name from Olympus maker notes (only when EXIF has none), the APP12 "Picture Info" text segment
and the Canon CIFF heap in APP0.

Fields ExifTool reports that we deliberately do not reproduce (they count as mismatches in the figure;
on the corpus these are the only two left):
* Reconyx trail-camera DateTimeOriginal and Kodak DC240 ISO (65535, i.e. unknown): they exist only in
  those makers' maker notes; a general maker-note reader costs several times our
  whole per-file time (exifread's ``details=True``) for a handful of cameras.

Speed: ours reads each file through mmap (only the header pages are touched); ExifTool runs once with
``-fast -json`` on the same list repeated R times so that its start-up is amortised. With
``--synthetic N`` it also generates N 12-megapixel camera JPEGs (full EXIF + GPS, via piexif) in a
temporary folder and measures both on them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from imgengine.analyzers.metadata import read_metadata  # noqa: E402 - after the src path is set
from imgengine.core.formats import CANDIDATE_EXTENSIONS  # noqa: E402

# our field -> ExifTool tags (with -n) it stands for, and how to compare
FIELDS: list[tuple[str, tuple[str, ...], str]] = [
    ("make", ("Make",), "str"),
    ("model", ("Model",), "str"),
    ("lens_model", ("LensModel",), "str"),
    ("software", ("Software",), "str"),
    ("artist", ("Artist",), "str"),
    ("copyright", ("Copyright",), "str"),
    ("datetime_original", ("SubSecDateTimeOriginal", "DateTimeOriginal"), "date"),
    ("create_date", ("SubSecCreateDate", "CreateDate"), "date"),
    ("gps_latitude", ("GPSLatitude",), "float"),
    ("gps_longitude", ("GPSLongitude",), "float"),
    ("gps_altitude", ("GPSAltitude",), "float"),
    ("gps_time", ("GPSDateTime",), "date"),
    ("orientation", ("Orientation",), "int"),
    ("width", ("ImageWidth",), "int"),
    ("height", ("ImageHeight",), "int"),
    ("iso", ("ISO",), "int"),
    ("exposure_time", ("ExposureTime",), "float"),
    ("f_number", ("FNumber",), "float"),
    ("focal_length", ("FocalLength",), "float"),
    ("focal_length_35mm", ("FocalLengthIn35mmFormat",), "float"),
    ("flash", ("Flash",), "int"),
    ("keywords", ("Subject", "Keywords"), "list"),
    ("title", ("Title", "ObjectName"), "str"),
    ("description", ("ImageDescription", "Description", "Caption-Abstract"), "str"),
    ("rating", ("Rating",), "int"),
]

_DATE = re.compile(r"^(\d{4})[:\-](\d\d)[:\-](\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?"
                   r"\s*(Z|[+-]\d\d:?\d\d)?")


def list_images(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if os.path.splitext(name)[1].lower() in CANDIDATE_EXTENSIONS:
                out.append(Path(dirpath) / name)
    return out


def run_exiftool(files: list[Path], *args: str, repeat: int = 1) -> tuple[list[dict[str, Any]], float]:
    with tempfile.NamedTemporaryFile("w", suffix=".args", delete=False, encoding="utf-8") as fh:
        for _ in range(repeat):
            for f in files:
                fh.write(f"{f}\n")
        argfile = fh.name
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(["exiftool", "-json", "-charset", "filename=utf8", *args, "-@", argfile],
                              capture_output=True, check=False)
        elapsed = time.perf_counter() - t0
    finally:
        os.unlink(argfile)
    text = proc.stdout.decode("utf-8", "replace").strip()
    return (json.loads(text) if text else []), elapsed


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        s = value.strip()
        return not s or bool(re.fullmatch(r"0{4}[:\-]0\d[:\-]0\d(?: 00:00:00)?", s))
    if isinstance(value, list):
        return all(_blank(v) for v in value)
    return False


def _norm_date(value: Any) -> tuple[str, str | None, str | None] | None:
    m = _DATE.match(str(value).strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    local = f"{y}-{mo}-{d}" + (f"T{h}:{mi}:{s or '00'}" if h else "")
    if tz == "Z":
        tz = "+00:00"
    elif tz and ":" not in tz:
        tz = tz[:3] + ":" + tz[3:]
    return local, (frac.rstrip("0") or "0") if frac else None, tz


def values_match(ours: Any, theirs: Any, kind: str) -> bool:
    if ours is None or ours == () or ours == []:
        return False
    if kind == "list":
        want = theirs if isinstance(theirs, list) else [theirs]
        return [str(v).strip() for v in ours] == [str(v).strip() for v in want]
    if kind == "date":
        a, b = _norm_date(ours), _norm_date(theirs)
        if a is None or b is None or a[0] != b[0]:
            return False
        if a[1] is not None and b[1] is not None and abs(float("0." + a[1]) - float("0." + b[1])) > 0.011:
            return False
        return not (a[2] and b[2] and a[2] != b[2])
    if kind == "int":   # our integer fields (ISO...) against ExifTool's value rounded to an integer
        try:
            return int(ours) == round(float(theirs))
        except (TypeError, ValueError):
            return False
    if kind == "float" or isinstance(theirs, (int, float)):
        try:
            x, y = float(ours), float(theirs)
        except (TypeError, ValueError):
            return str(ours).strip() == str(theirs).strip()
        return math.isclose(x, y, rel_tol=1e-3, abs_tol=1e-9)
    return str(ours).strip() == str(theirs).strip()


# groups whose values are the standard tags we read; used only to look behind a maker-note duplicate
STANDARD_GROUPS = ("IFD0", "ExifIFD", "XMP-", "IPTC")


def _standard_values(record: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key, value in record.items():
        group, _, tag = key.partition(":")
        if tag and group.startswith(STANDARD_GROUPS):
            out.setdefault(tag, []).append(value)
    return out


def compare(files: list[Path], exif_json: list[dict[str, Any]],
            grouped_json: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per-field counts and the list of mismatches between our reader and ExifTool's JSON.

    ``grouped_json`` (``exiftool -a -G1 -n``) lets a value match ExifTool's own reading of the standard
    tag when its default output shows a maker-note duplicate of the same name instead.
    """
    by_path = {os.path.realpath(r["SourceFile"]): r for r in exif_json}
    grouped = {os.path.realpath(r["SourceFile"]): _standard_values(r) for r in grouped_json or []}
    per_field = {name: [0, 0] for name, _, _ in FIELDS}
    mismatches: list[tuple[str, str, Any, Any]] = []
    for path in files:
        ref = by_path.get(os.path.realpath(path))
        if ref is None:
            continue
        ours = read_metadata(path).to_dict()
        for name, tags, kind in FIELDS:
            candidates = [ref[t] for t in tags if t in ref and not _blank(ref[t])]
            if not candidates:
                continue
            per_field[name][1] += 1
            if not name.startswith("gps"):   # GPS groups hold unsigned values; only Composite is signed
                std = grouped.get(os.path.realpath(path), {})
                candidates += [v for t in tags for v in std.get(t, []) if not _blank(v)]
            if any(values_match(ours.get(name), c, kind) for c in candidates):
                per_field[name][0] += 1
            else:
                mismatches.append((str(path), name, ours.get(name), candidates[0]))
    matched = sum(m for m, _ in per_field.values())
    reported = sum(r for _, r in per_field.values())
    return {"per_field": per_field, "matched": matched, "reported": reported,
            "agreement": matched / reported if reported else 1.0, "mismatches": mismatches}


def time_ours(files: list[Path], repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        for f in files:
            read_metadata(f)
    return len(files) * repeat / (time.perf_counter() - t0)


def time_ours_bytes(files: list[Path], repeat: int) -> float:
    datas = [f.read_bytes() for f in files]
    t0 = time.perf_counter()
    for _ in range(repeat):
        for d in datas:
            read_metadata(d)
    return len(datas) * repeat / (time.perf_counter() - t0)


def time_analyzer(files: list[Path], repeat: int) -> float:
    """Through the analyzer as the pipeline calls it: AnalysisInput reads the whole file once."""
    from imgengine.analyzers.base import AnalysisInput
    from imgengine.analyzers.metadata import MetadataAnalyzer
    from imgengine.core.photo import Photo
    from imgengine.settings import Settings

    analyzer, settings = MetadataAnalyzer(), Settings()
    photos = [Photo.from_path(f) for f in files]
    t0 = time.perf_counter()
    for _ in range(repeat):
        for photo in photos:
            analyzer.analyze(AnalysisInput(photo, settings))
    return len(files) * repeat / (time.perf_counter() - t0)


def time_libraries(files: list[Path], repeat: int) -> tuple[float, float]:
    """The alternatives we measured before writing our IFD walker: exifread (details=False) and Pillow."""
    import io
    import logging

    import exifread
    from PIL import Image

    logging.getLogger("exifread").setLevel(logging.CRITICAL)
    datas = [f.read_bytes() for f in files]

    def pillow(data: bytes) -> None:
        with Image.open(io.BytesIO(data)) as img:
            exif = img.getexif()
            exif.get_ifd(0x8769)
            exif.get_ifd(0x8825)

    rates = []
    for fn in (lambda d: exifread.process_file(io.BytesIO(d), details=False), pillow):
        t0 = time.perf_counter()
        for _ in range(repeat):
            for d in datas:
                try:
                    fn(d)
                except Exception:  # noqa: BLE001, S110 - broken corpus files: the timing is what matters
                    pass
        rates.append(len(datas) * repeat / (time.perf_counter() - t0))
    return rates[0], rates[1]


def time_exiftool(files: list[Path], repeat: int) -> float:
    _, elapsed = run_exiftool(files, "-fast", repeat=repeat)
    return len(files) * repeat / elapsed


def make_synthetic(folder: Path, count: int) -> list[Path]:
    """``count`` 12 MP camera JPEGs (4000x3000, full EXIF + GPS) sharing one encoded image."""
    import io

    import numpy as np
    import piexif
    from PIL import Image

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((4000, 3000), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    base = buf.getvalue()
    out = []
    for i in range(count):
        exif = {
            "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS 5D Mark IV",
                    piexif.ImageIFD.Orientation: 1 + i % 8, piexif.ImageIFD.Software: b"Firmware 1.0.4"},
            "Exif": {piexif.ExifIFD.DateTimeOriginal: f"2024:05:{1 + i % 28:02d} 10:11:12".encode(),
                     piexif.ExifIFD.SubSecTimeOriginal: b"25", piexif.ExifIFD.OffsetTimeOriginal: b"+02:00",
                     piexif.ExifIFD.ISOSpeedRatings: 100 * (1 + i % 32), piexif.ExifIFD.ExposureTime: (1, 250),
                     piexif.ExifIFD.FNumber: (56, 10), piexif.ExifIFD.FocalLength: (50, 1),
                     piexif.ExifIFD.LensModel: b"EF50mm f/1.4 USM", piexif.ExifIFD.Flash: 16},
            "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"S", piexif.GPSIFD.GPSLatitude: ((33, 1), (51, 1), (3600, 100)),
                    piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((151, 1), (12, 1), (0, 1)),
                    piexif.GPSIFD.GPSAltitudeRef: 0, piexif.GPSIFD.GPSAltitude: (58, 1)},
        }
        out_buf = io.BytesIO()
        piexif.insert(piexif.dump(exif), base, out_buf)
        path = folder / f"synthetic_{i:04d}.jpg"
        path.write_bytes(out_buf.getvalue())
        out.append(path)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--verbose", action="store_true", help="list every mismatch")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the files for the timings")
    parser.add_argument("--synthetic", type=int, default=0, help="also time N generated 12 MP JPEGs")
    args = parser.parse_args()
    if shutil.which("exiftool") is None:
        print("exiftool not found (apt-get install libimage-exiftool-perl)")
        return 2
    folder = Path(args.folder)
    files = list_images(folder)
    if not files:
        print(f"no images under {folder}")
        return 2
    ref, _ = run_exiftool(files, "-n")
    grouped, _ = run_exiftool(files, "-n", "-a", "-G1")
    result = compare(files, ref, grouped)
    print(f"ExifTool agreement on {len(files)} files in {folder}  (machine: {os.cpu_count()}-core CPU)")
    print(f"{'field':<20}{'match':>7}{'of':>6}{'%':>9}")
    for name, (m, r) in result["per_field"].items():
        if r:
            print(f"{name:<20}{m:>7}{r:>6}{100 * m / r:>8.1f}%")
    print(f"{'overall':<20}{result['matched']:>7}{result['reported']:>6}{100 * result['agreement']:>8.2f}%")
    if args.verbose:
        print("\nmismatches (file, field, ours, ExifTool):")
        for path, name, ours, theirs in result["mismatches"]:
            print(f"  {os.path.relpath(path, folder)}  {name}: {ours!r} vs {theirs!r}")

    print("\nmetadata-only speed, one process:")
    ours_path = time_ours(files, args.repeat)
    ours_bytes = time_ours_bytes(files, args.repeat)
    theirs = time_exiftool(files, max(1, args.repeat // 4))
    print(f"  corpus ({len(files)} files)  ours (path, mmap): {ours_path:,.0f} files/s   "
          f"ours (bytes in memory): {ours_bytes:,.0f} files/s   exiftool -fast -json: {theirs:,.0f} files/s")
    jpegs = [f for f in files if f.suffix.lower() in (".jpg", ".jpeg")]
    exifread_rate, pillow_rate = time_libraries(jpegs, max(1, args.repeat // 4))
    ours_jpeg = time_ours_bytes(jpegs, max(1, args.repeat // 4))
    print(f"  corpus JPEGs ({len(jpegs)}, bytes in memory)  ours: {ours_jpeg:,.0f} files/s   exifread "
          f"details=False: {exifread_rate:,.0f} files/s   Pillow getexif+IFDs: {pillow_rate:,.0f} files/s")
    if args.synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            synth = make_synthetic(Path(tmp), args.synthetic)
            ours_path = time_ours(synth, max(1, args.repeat // 2))
            ours_item = time_analyzer(synth, max(1, args.repeat // 4))
            theirs = time_exiftool(synth, 2)
            size_mb = sum(p.stat().st_size for p in synth) / len(synth) / 1e6
            print(f"  12 MP camera JPEGs ({len(synth)} files, {size_mb:.1f} MB each)  ours (path, mmap): "
                  f"{ours_path:,.0f} files/s   ours via AnalysisInput (whole file read): {ours_item:,.0f} files/s"
                  f"   exiftool -fast -json: {theirs:,.0f} files/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
