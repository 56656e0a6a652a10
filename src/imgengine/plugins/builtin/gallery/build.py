"""Build the static gallery: entries from catalog records, thumbnails in a process pool, the data file."""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ....core.atomic import replacing
from ....core.photo import Photo
from ....engine.executors import pool_context
from ....errors import UsageError
from ....search.filterlang import QUALITY_ORDER, compile_filter

ASSETS = Path(__file__).parent / "assets"
DATA_VERSION = 1


@dataclass
class GalleryOptions:
    title: str = "Photos"
    filter: str | None = None
    thumb_format: str = "webp"          # webp | avif
    thumb_sizes: tuple[int, int] = (256, 512)   # grid thumbnails: 1x and 2x (HiDPI srcset)
    preview_size: int = 1600            # lightbox preview, long side
    quality: int = 80
    tile_url: str | None = None         # e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; none = world outline
    workers: int = 0                    # 0 = all cores
    max_pixels: int = 180_000_000
    cache_dir: Path | None = None       # thumbnails analyze made from its own decode (the thumbnails plugin)


@dataclass
class GalleryReport:
    out: Path
    photos: int = 0
    thumbnails_made: int = 0
    thumbnails_reused: int = 0
    thumbnails_cached: int = 0          # taken from analyze's thumbnail cache (no decode)
    thumbnail_failures: list[tuple[str, str]] = field(default_factory=list)
    excluded_by_filter: int = 0
    seconds: float = 0.0
    thumb_seconds: float = 0.0

    @property
    def thumbs_per_second(self) -> float:
        return self.thumbnails_made / self.thumb_seconds if self.thumb_seconds > 0 else 0.0


# -- entries -------------------------------------------------------------------------------------------

class _Strings:
    """A string table: repeated camera names, labels and places are stored once in the data file."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}

    def __call__(self, s: str | None) -> int:
        if not s:
            return -1
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.items)
            self.items.append(s)
        return i


def thumb_key(rec: dict[str, Any]) -> str:
    """Thumbnails are named by content (sha256) so a moved or renamed photo reuses its thumbnails; without
    a content hash, by path + size + mtime."""
    if rec.get("sha256"):
        return rec["sha256"][:32]
    ident = f"{rec['display_path']}\0{rec['size']}\0{rec['mtime_ns']}".encode("utf-8", "surrogateescape")
    return "p" + hashlib.sha256(ident).hexdigest()[:31]


def _fmt_exposure(t: float | None) -> str | None:
    if not t:
        return None
    if t >= 1:
        return f"{t:g} s"
    return f"1/{round(1 / t)} s"


def _meta_line(md: dict[str, Any]) -> str:
    parts = [_fmt_exposure(md.get("exposure_time")),
             f"f/{md['f_number']:g}" if md.get("f_number") else None,
             f"ISO {md['iso']}" if md.get("iso") else None,
             f"{md['focal_length']:g} mm" if md.get("focal_length") else None]
    return " · ".join(p for p in parts if p)


def _entry(rec: dict[str, Any], strings: _Strings, root: Path | None, out: Path) -> list[Any]:
    res = rec.get("results", {})
    md = res.get("metadata") or {}
    content = res.get("content") or {}
    clip = res.get("clip") or {}
    detr = res.get("detr") or {}
    faces = res.get("faces") or {}
    places = res.get("places") or {}
    date = md.get("datetime_original") or md.get("create_date") or ""
    date = date[:16].replace("T", " ") if isinstance(date, str) else ""
    camera = md.get("camera") or " ".join(p for p in (md.get("make"), md.get("model")) if p) or None
    scenes = [s["label"] for s in (clip.get("scenes") or [])[:3] if s.get("score", 0) >= 0.1 and s.get("label")]
    tags = sorted(set(scenes) | set(detr.get("labels") or []) | set(md.get("keywords") or []))
    people = rec["people"] if rec.get("people") is not None else \
        [p if isinstance(p, str) else (p or {}).get("name") for p in faces.get("people") or []]
    place = ", ".join(v for v in (places.get("city"), places.get("country")) if v) or None
    q = content.get("quality")
    lat, lon = md.get("gps_latitude"), md.get("gps_longitude")
    w = md.get("upright_width") or 0
    h = md.get("upright_height") or 0
    path = Path(rec["path"])
    name = os.path.relpath(path, root) if root is not None else rec["display_path"]
    try:
        href = os.path.relpath(path, out)
    except ValueError:  # another drive (Windows)
        href = str(path)
    return [
        thumb_key(rec),                                  # 0 key
        int(w), int(h),                                  # 1, 2 upright size
        date,                                            # 3 "YYYY-MM-DD HH:MM" or ""
        strings(camera),                                 # 4 camera (string index)
        [strings(t) for t in tags],                      # 5 tags: scenes, objects, keywords
        [strings(p) for p in people if p],               # 6 people
        strings(place),                                  # 7 place
        QUALITY_ORDER.index(q) if q in QUALITY_ORDER else -1,  # 8 quality bucket
        round(lat, 5) if isinstance(lat, (int, float)) else None,   # 9
        round(lon, 5) if isinstance(lon, (int, float)) else None,   # 10
        0,                                               # 11 duplicate group (filled later)
        os.fsencode(name).decode("utf-8", "backslashreplace"),     # 12 name shown
        os.fsencode(href).decode("utf-8", "backslashreplace"),     # 13 link to the original
        rec.get("size") or 0,                            # 14 bytes
        rec.get("format") or "",                         # 15
        _meta_line(md),                                  # 16 exposure summary
        strings(md.get("lens_model")),                   # 17 lens
        content.get("quality_score"),                    # 18
    ]


FIELDS = ["key", "w", "h", "date", "camera", "tags", "people", "place", "quality", "lat", "lon", "dup",
          "name", "href", "size", "format", "exposure", "lens", "quality_score"]


# -- thumbnails (worker processes) ------------------------------------------------------------------------

def thumb_paths(out: Path, key: str, opts: GalleryOptions) -> dict[str, Path]:
    """Where a photo's thumbnails live below ``out`` (a site, or analyze's thumbnail cache)."""
    ext = opts.thumb_format
    sub = key[:2]
    paths = {f"t{s}": out / "thumbs" / sub / f"{key}-{s}.{ext}" for s in opts.thumb_sizes}
    paths["preview"] = out / "previews" / sub / f"{key}-{opts.preview_size}.{ext}"
    return paths


def _make_thumbs(task: tuple[str, str, int, int, str, dict[str, str], GalleryOptions]) -> tuple[str, str | None]:
    """Decode once at preview size (upright, draft-decoded for JPEG) and write preview + grid thumbnails."""
    from ....core.decode import decode_for_analysis

    key, path, size, mtime_ns, fmt, targets, opts = task
    try:
        photo = Photo(Path(path), size, mtime_ns, fmt)
        decoded = decode_for_analysis(photo, None, opts.preview_size, opts.max_pixels)
        render_thumbs(decoded.image, {k: Path(v) for k, v in targets.items()}, opts)
        return key, None
    except Exception as exc:  # noqa: BLE001 - one bad photo never stops a build
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return key, text


def render_thumbs(img, targets: dict[str, Path], opts: GalleryOptions) -> None:
    """Write the preview and the grid thumbnails of upright RGB pixels ``img`` (any size: larger pixels are
    brought down to the preview size first). Shared by the gallery's own decode and analyze's thumbnail
    cache (``plugins.builtin.thumbnails``), so both make the same files."""
    from PIL import Image

    if max(img.size) > opts.preview_size:
        img = img.copy()
        img.thumbnail((opts.preview_size, opts.preview_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    # WebP's slower methods pay off on small thumbnails; on the large preview method 0 is 3x faster
    # for a file only ~5 % larger
    save = {"webp": dict(format="WEBP", quality=opts.quality, method=4),
            "avif": dict(format="AVIF", quality=opts.quality - 20, speed=8)}[opts.thumb_format]
    fast = {**save, "method": 0} if opts.thumb_format == "webp" else {**save, "speed": 10}
    _save_atomic(img, Path(targets["preview"]), fast)
    for s in sorted(opts.thumb_sizes, reverse=True):
        # the grid crops to squares (object-fit: cover): the short side is what must be sharp. A box
        # reduction first (reducing_gap 1) halves the Lanczos cost at a mean difference of ~1/255
        w, h = img.size
        scale = s / min(w, h)
        if scale < 1:
            img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS,
                             reducing_gap=1.0)
        _save_atomic(img, Path(targets[f"t{s}"]), save)


def _link_or_copy(src: Path, dst: Path) -> None:
    """A cached thumbnail into the site: a hard link (no bytes copied), else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + f".{os.getpid()}.link")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _save_atomic(img, target: Path, kwargs: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target, target.with_name(target.name + f".{os.getpid()}.tmp")) as tmp:
        img.save(tmp, **kwargs)


def _from_cache(cache: Path, key: str, targets: dict[str, Path], opts: GalleryOptions) -> bool:
    cached = thumb_paths(Path(cache), key, opts)
    if not all(p.is_file() for p in cached.values()):
        return False
    try:
        for name, target in targets.items():
            _link_or_copy(cached[name], target)
    except OSError:
        return False
    return True



# -- the build -------------------------------------------------------------------------------------------

def build_gallery(records: Iterable[dict[str, Any]], out: Path, options: GalleryOptions | None = None, *,
                  root: Path | None = None, progress: Callable[[str, int, int], None] | None = None
                  ) -> GalleryReport:
    """Build (or update) the site in ``out`` from catalog ``records``. ``progress(step, done, total)`` is
    called for the thumbnail step."""
    opts = options or GalleryOptions()
    if opts.thumb_format not in ("webp", "avif"):
        raise UsageError(f"thumbnail format {opts.thumb_format!r}: use webp or avif")
    t0 = time.perf_counter()
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror or exc}")
    if not os.access(out, os.W_OK):
        raise UsageError(f"{out}: folder is not writable")
    report = GalleryReport(out)
    keep = compile_filter(opts.filter)
    strings = _Strings()
    entries: list[list[Any]] = []
    sources: dict[str, tuple[str, int, int, str]] = {}
    by_sha: dict[str, list[int]] = {}
    for rec in records:
        if rec.get("status") != "ok" or not rec.get("format") or rec.get("missing"):
            continue
        if rec.get("sha256"):
            by_sha.setdefault(rec["sha256"], []).append(len(entries))
        entry = _entry(rec, strings, root, out)
        entry.append(keep(rec))                  # filter result, dropped before writing
        entries.append(entry)
        sources.setdefault(entry[0], (os.fsdecode(rec["path"]), rec["size"], rec["mtime_ns"], rec["format"]))
    # exact duplicates (same bytes) share a group number; the filter field `duplicate` sees them
    group = 0
    for members in by_sha.values():
        if len(members) > 1:
            group += 1
            for i in members:
                entries[i][11] = group
    kept = [e[:-1] for e in entries if e[-1]]
    report.excluded_by_filter = len(entries) - len(kept)
    report.photos = len(kept)

    # thumbnails: made once per content key, reused by later builds
    todo = []
    seen: set[str] = set()
    for e in kept:
        key = e[0]
        if key in seen:
            continue
        seen.add(key)
        targets = thumb_paths(out, key, opts)
        if all(p.exists() for p in targets.values()):
            report.thumbnails_reused += 1
            continue
        if opts.cache_dir is not None and _from_cache(opts.cache_dir, key, targets, opts):
            report.thumbnails_cached += 1
            continue
        path, size, mtime_ns, fmt = sources[key]
        todo.append((key, path, size, mtime_ns, fmt, {k: str(v) for k, v in targets.items()}, opts))
    t = time.perf_counter()
    failed: dict[str, str] = {}
    if progress:
        progress("thumbnails", 0, len(todo))
    if todo:
        workers = opts.workers or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                      else (os.cpu_count() or 1))
        workers = min(workers, len(todo))
        if workers <= 1:
            results = map(_make_thumbs, todo)
            pool = None
        else:
            pool = pool_context().Pool(workers)
            results = pool.imap_unordered(_make_thumbs, todo, chunksize=1)
        try:
            for done, (key, error) in enumerate(results, 1):
                if error is None:
                    report.thumbnails_made += 1
                else:
                    failed[key] = error
                if progress:
                    progress("thumbnails", done, len(todo))
            if pool is not None:
                pool.close()
        except BaseException:
            if pool is not None:
                pool.terminate()
            raise
        finally:
            if pool is not None:
                pool.join()
    report.thumb_seconds = time.perf_counter() - t
    names = {e[0]: e[12] for e in kept}
    report.thumbnail_failures = [(names.get(k, k), msg) for k, msg in failed.items()]

    write_site(out, kept, strings.items, opts, sorted(failed))
    report.seconds = time.perf_counter() - t0
    return report


def write_site(out: Path, entries: list[list[Any]], strings: list[str], opts: GalleryOptions,
               failed: list[str] = ()) -> None:
    """The page, its assets (copied from the package) and the data file for ``entries`` (see FIELDS)."""
    _copy_assets(out)
    data = {
        "version": DATA_VERSION, "title": opts.title, "generated": time.strftime("%Y-%m-%d %H:%M"),
        "thumbFormat": opts.thumb_format, "thumbSizes": list(opts.thumb_sizes), "previewSize": opts.preview_size,
        "tileUrl": opts.tile_url, "fields": FIELDS, "strings": strings,
        "quality": list(QUALITY_ORDER), "failed": list(failed), "photos": entries,
    }
    _write_atomic(out / "data" / "photos.js",
                  "window.IMGENGINE_GALLERY = " + json.dumps(data, ensure_ascii=False, separators=(",", ":")) + ";\n")
    page = (ASSETS / "index.html").read_text(encoding="utf-8").replace("{{title}}", html.escape(opts.title))
    _write_atomic(out / "index.html", page)


def _copy_assets(out: Path) -> None:
    dest = out / "assets"
    for src in ASSETS.rglob("*"):
        if src.is_dir() or src.name == "index.html":
            continue
        target = dest / src.relative_to(ASSETS)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.stat().st_size != src.stat().st_size or \
                target.read_bytes() != src.read_bytes():
            shutil.copyfile(src, target)


def _write_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
