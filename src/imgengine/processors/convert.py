"""``imgengine convert``: new files in another format (JPEG, PNG, WebP, HEIC, AVIF), keeping EXIF (orientation
set to 1 because the pixels are turned upright, the old thumbnail dropped, the new size recorded), XMP,
IPTC, the ICC profile and the file times. Outputs are new files (journal ``write-new``); ``--replace``
moves the originals to the journal's trash afterwards. Encoding runs on all cores, in chunks, and each
chunk's files are then written through the journal.

Refused with a reason: animated GIF/WebP and multi-page TIFF (a conversion would keep one frame), RAW
(a developer's job), files already in the target format unless they are resized.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.photo import display_path
from ..core.scan import ScanProblem
from ..errors import DecodeError, ImgEngineError, MetadataError, UsageError
from ..settings import Settings
from .journal import Journal, Step, StepResult
from .tag import FileAction, gather_files, sniffed

TARGETS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "heic": ".heic", "avif": ".avif"}
ALIASES = {"jpg": "jpeg", "heif": "heic", "tif": "tiff"}
READABLE = frozenset({"jpeg", "png", "webp", "tiff", "heic", "avif", "gif", "bmp"})
DEFAULT_QUALITY = {"jpeg": 90, "webp": 85, "heic": 80, "avif": 70, "png": None}
SPEEDS = ("fast", "balanced", "best")
CHUNK = 16


@dataclass(frozen=True)
class ConvertOptions:
    to: str
    quality: int | None = None
    max_size: int | None = None
    speed: str = "balanced"        # HEIC: x265 preset; AVIF: encoder speed

    def validate(self) -> ConvertOptions:
        to = ALIASES.get(self.to.lower(), self.to.lower())
        if to not in TARGETS:
            raise UsageError(f"--to {self.to!r}: choose one of jpeg, png, webp, heic, avif")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise UsageError("--quality is 1-100")
        if self.max_size is not None and self.max_size < 16:
            raise UsageError("--max-size is at least 16 pixels")
        if self.speed not in SPEEDS:
            raise UsageError(f"--speed {self.speed!r}: choose one of {', '.join(SPEEDS)}")
        return ConvertOptions(to, self.quality, self.max_size, self.speed)


ConvertAction = FileAction


@dataclass
class ConvertPlan:
    command: str
    options: ConvertOptions
    actions: list[ConvertAction] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    replace: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "to": self.options.to, "replace": self.replace,
                "summary": {"files": len(self.actions), "left_alone": len(self.skipped)},
                "actions": [{"src": display_path(a.src), "dst": display_path(a.dst), "from": a.fmt}
                            for a in self.actions],
                "left_alone": [{"path": display_path(p), "reason": r} for p, r in self.skipped]}


def plan_convert(paths: Iterable[Path], settings: Settings, options: ConvertOptions, *, out: Path | None = None,
                 suffix: str = "", replace: bool = False) -> ConvertPlan:
    options = options.validate()
    paths = [Path(os.path.abspath(p)) for p in paths]
    plan = ConvertPlan("convert", options, replace=replace)
    problems: list[ScanProblem] = []
    planned: set[str] = set()
    out_abs = Path(os.path.abspath(out)) if out is not None else None
    files = ((path, size, mtime_ns) for path, size, mtime_ns in gather_files(paths, settings, problems)
             if out_abs is None or not (path == out_abs or out_abs in path.parents))   # not our earlier outputs
    for path, size, mtime_ns, fmt in sniffed(files, plan.skipped):
        if fmt == "raw":
            plan.skipped.append((path, "RAW files are not converted (a RAW developer's job); their preview "
                                 "is what `analyze` reads"))
            continue
        if fmt not in READABLE:
            plan.skipped.append((path, "not an image format convert reads"))
            continue
        if fmt == options.to and options.max_size is None:
            plan.skipped.append((path, f"already {options.to.upper()}"))
            continue
        frames = _frame_count(path)
        if frames > 1:
            kind = "multi-page TIFF" if fmt == "tiff" else f"animated {fmt.upper()}"
            plan.skipped.append((path, f"{kind} with {frames} frames: not converted (only one frame would be "
                                 "kept)"))
            continue
        name = path.stem + suffix + TARGETS[options.to]
        folder = path.parent
        if out_abs is not None:
            base = next((p for p in paths if p == path or p in path.parents), path.parent)
            rel = path.parent.relative_to(base) if base != path and base.is_dir() else Path()
            folder = out_abs / rel
        dst = folder / name
        if str(dst).casefold() in planned:
            dst = folder / (path.stem + suffix + "_" + fmt + TARGETS[options.to])
        planned.add(str(dst).casefold())
        plan.actions.append(ConvertAction(path, dst, fmt, size, mtime_ns))
    plan.skipped.extend((p.path, p.reason) for p in problems)
    return plan


def _frame_count(path: Path) -> int:
    from PIL import Image

    _register_heif()
    try:
        with Image.open(path) as im:
            return int(getattr(im, "n_frames", 1) or 1)
    except Exception:  # noqa: BLE001 - unreadable files are reported when converted
        return 1


def _register_heif() -> None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - pillow-heif is a dependency
        pass


# ------------------------------------------------------------------------------------------ encoding
def _to_rgb(im: Any, keep_alpha: bool) -> Any:
    """8-bit RGB(A) in sRGB: 16-bit scaled (not clipped), CMYK through its embedded profile, alpha kept
    where the target has it, else laid on white."""
    import numpy as np
    from PIL import Image, ImageCms

    icc = im.info.get("icc_profile")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im).astype(np.uint32)
        top = 65535 if im.mode.startswith("I;16") or arr.max() > 255 else 255
        im = Image.fromarray((arr * 255 // max(top, 1)).astype(np.uint8), "L")
    if im.mode == "CMYK":
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                im = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
                im.info["icc_profile"] = None
                im.info["_converted_to_srgb"] = True
            except (ImageCms.PyCMSError, OSError):
                im = im.convert("RGB")
        else:
            im = im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        if not keep_alpha:
            back = Image.new("RGB", im.size, (255, 255, 255))
            back.paste(im, mask=im.getchannel("A"))
            im = back
    elif im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    return im


def convert_file(path: str, options: ConvertOptions) -> bytes:
    """The converted file's bytes (pixels upright, metadata and ICC carried over)."""
    from PIL import Image, ImageCms, ImageOps

    from ..metadata import exiv2_backend

    _register_heif()
    try:
        with Image.open(path) as im:
            im.load()
            icc = im.info.get("icc_profile")
            upright = ImageOps.exif_transpose(im)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for broken files
        raise DecodeError(f"cannot decode: {str(exc).splitlines()[0][:150] if str(exc) else type(exc).__name__}")
    to = options.to
    pixels = _to_rgb(upright, keep_alpha=to != "jpeg")
    if pixels.info.get("_converted_to_srgb"):
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    if options.max_size and max(pixels.size) > options.max_size:
        pixels.thumbnail((options.max_size, options.max_size), Image.Resampling.LANCZOS)
    quality = options.quality or DEFAULT_QUALITY[to]
    source = exiv2_backend.source_metadata(path)
    kwargs: dict[str, Any] = {}
    if icc:
        kwargs["icc_profile"] = icc
    buf = io.BytesIO()
    if to in ("heic", "avif"):
        exif_blob = xmp_blob = None
        if source is not None:
            # Pillow's AVIF writer re-encodes an EXIF block that holds Orientation (losing tag types): leave it out
            exif_blob, xmp_blob = exiv2_backend.exif_and_xmp_blobs(source, *pixels.size, orientation=to != "avif")
        if exif_blob:
            kwargs["exif"] = exif_blob
        if xmp_blob:
            kwargs["xmp"] = xmp_blob
        if to == "heic":
            preset = {"fast": "ultrafast", "balanced": "fast", "best": "medium"}[options.speed]
            pixels.save(buf, "HEIF", quality=quality, enc_params={"preset": preset}, **kwargs)
        else:
            speed = {"fast": 10, "balanced": 7, "best": 4}[options.speed]
            pixels.save(buf, "AVIF", quality=quality, speed=speed, **kwargs)
        return buf.getvalue()
    if to == "jpeg":
        pixels.save(buf, "JPEG", quality=quality, optimize=True, **kwargs)
    elif to == "webp":
        pixels.save(buf, "WEBP", quality=quality, method=4, **kwargs)
    else:
        pixels.save(buf, "PNG", **kwargs)
    data = buf.getvalue()
    if source is not None:
        data = exiv2_backend.copy_metadata(source, data, to, *pixels.size)
    return data


def _convert_job(args: tuple[str, ConvertOptions]) -> tuple[bytes | None, str | None]:
    path, options = args
    try:
        return convert_file(path, options), None
    except ImgEngineError as exc:
        return None, str(exc)
    except MemoryError:
        return None, "not enough memory to convert this image"
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the run
        return None, f"{type(exc).__name__}: {exc}"[:200]


def apply_convert(plan: ConvertPlan, journal: Journal, workers: int = 1,
                  progress: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Encode in parallel (chunks), write each output through the journal (write-new: never replaces a
    file), then, with ``replace``, move each converted original to the trash."""
    results: list[StepResult] = []
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 and len(plan.actions) > 1 else None
    try:
        for start in range(0, len(plan.actions), CHUNK):
            chunk = plan.actions[start:start + CHUNK]
            jobs = [(os.fsdecode(a.src), plan.options) for a in chunk]
            outcomes = list(pool.map(_convert_job, jobs)) if pool else [_convert_job(j) for j in jobs]
            steps = []
            for a, (data, error) in zip(chunk, outcomes, strict=True):
                st = os.stat(a.src)
                steps.append(Step("write-new", a.src, a.dst, expect_size=a.size, expect_mtime_ns=a.mtime_ns,
                                  produce=_producer(data, error),
                                  meta={"utime_ns": (st.st_atime_ns, st.st_mtime_ns),
                                        "note": f"{a.fmt} -> {plan.options.to}"}))
            done = journal.run(steps, progress=None)
            results.extend(done)
            if plan.replace:
                trash = [Step("trash", r.src, expect_size=a.size, expect_mtime_ns=a.mtime_ns)
                         for r, a in zip(done, chunk, strict=True) if r.status == "done"]
                if trash:
                    journal.run(trash)
            if progress:
                for r in done:
                    progress(r)
    finally:
        if pool is not None:
            pool.shutdown()
    return results


def _producer(data: bytes | None, error: str | None) -> Callable[[bytes | None, Path], bytes]:
    def produce(_data: bytes | None, _tmp: Path) -> bytes:
        if data is None:
            raise MetadataError(error or "conversion failed")
        return data
    return produce
