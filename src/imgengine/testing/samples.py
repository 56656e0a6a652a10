"""Synthetic, camera-like photos for the demo, the tests and the benchmarks.

Nothing here is downloaded: every image is drawn with NumPy + Pillow and every EXIF block written
with piexif, so the project can show and test itself on any machine.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageDraw, ImageFilter

CAMERAS = [
    ("Canon", "Canon EOS 5D Mark IV", "EF24-105mm f/4L IS II USM"),
    ("NIKON CORPORATION", "NIKON D750", "AF-S NIKKOR 24-120mm f/4G ED VR"),
    ("SONY", "ILCE-7M3", "FE 28-70mm F3.5-5.6 OSS"),
    ("Apple", "iPhone 13 Pro", "iPhone 13 Pro back triple camera 5.7mm f/1.5"),
    ("FUJIFILM", "X-T3", "XF18-55mmF2.8-4 R LM OIS"),
]


def scene(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: sky gradient, sun, hills, a few objects, fine texture and sensor noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    top = rng.uniform([40, 90, 160], [110, 160, 235])
    bottom = rng.uniform([170, 160, 120], [245, 225, 200])
    sky = (top[None, None, :] * (1 - y[..., None]) + bottom[None, None, :] * y[..., None])
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    xs = np.arange(width, dtype=np.float32)
    for layer in range(3):  # hills
        base = height * rng.uniform(0.45, 0.8)
        amp = height * rng.uniform(0.03, 0.12)
        freq = rng.uniform(1.5, 5.0) * 2 * np.pi / width
        ridge = base + amp * np.sin(xs * freq + rng.uniform(0, 6)) + amp * 0.3 * np.sin(xs * freq * 3.7)
        mask = np.arange(height, dtype=np.float32)[:, None] > ridge[None, :]
        color = rng.uniform([20, 60, 20], [120, 170, 90]) * (0.7 + 0.15 * layer)
        img[mask] = color
    # texture: grass/foliage detail so sharpness measures mean something
    tex = rng.normal(0, 1, (height // 4 + 1, width // 4 + 1)).astype(np.float32)
    tex = np.kron(tex, np.ones((4, 4), np.float32))[:height, :width]
    img += tex[..., None] * 10
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    s = min(width, height)
    cx, cy, r = rng.uniform(0.1, 0.9) * width, rng.uniform(0.08, 0.3) * height, s * rng.uniform(0.04, 0.08)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 240, 190))
    for _ in range(int(rng.integers(3, 8))):  # objects: houses, trees, boxes
        x0, y0 = rng.uniform(0, 0.9) * width, rng.uniform(0.5, 0.9) * height
        w, h = rng.uniform(0.04, 0.15) * width, rng.uniform(0.05, 0.2) * height
        fill = tuple(int(v) for v in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0 - h, x0 + w, y0], fill=fill, outline=(20, 20, 20), width=max(1, s // 300))
            draw.polygon([(x0, y0 - h), (x0 + w / 2, y0 - h * 1.5), (x0 + w, y0 - h)], fill=(120, 40, 30))
        else:
            draw.ellipse([x0, y0 - h, x0 + w, y0], fill=fill)
    noise = rng.normal(0, 2.5, (height, width, 3)).astype(np.float32)
    arr = np.clip(np.asarray(im, np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def _rational(value: float, denominator: int = 1000) -> tuple[int, int]:
    f = Fraction(value).limit_denominator(denominator)
    return f.numerator, f.denominator


def _dms(value: float) -> tuple[tuple[int, int], ...]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return (d, 1), (m, 1), (int(round(s * 100)), 100)


def camera_exif(make: str = "Canon", model: str = "Canon EOS 5D Mark IV", lens: str | None = None,
                when: dt.datetime | None = None, gps: tuple[float, float, float] | None = None,
                orientation: int = 1, iso: int = 200, exposure: float = 1 / 250, f_number: float = 5.6,
                focal: float = 50.0, subsec: str | None = "123", offset: str | None = "+02:00",
                software: str = "imgengine samples", artist: str | None = None, flash: int = 16) -> bytes:
    """An EXIF block as a camera writes it (piexif)."""
    when = when or dt.datetime(2023, 7, 4, 18, 32, 11)
    stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
    zeroth = {
        piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode(),
        piexif.ImageIFD.Orientation: orientation, piexif.ImageIFD.Software: software.encode(),
        piexif.ImageIFD.DateTime: stamp,
    }
    if artist:
        zeroth[piexif.ImageIFD.Artist] = artist.encode()
    exif = {
        piexif.ExifIFD.DateTimeOriginal: stamp, piexif.ExifIFD.DateTimeDigitized: stamp,
        piexif.ExifIFD.ISOSpeedRatings: iso, piexif.ExifIFD.ExposureTime: _rational(exposure, 100000),
        piexif.ExifIFD.FNumber: _rational(f_number), piexif.ExifIFD.FocalLength: _rational(focal),
        piexif.ExifIFD.FocalLengthIn35mmFilm: int(focal * 1.0), piexif.ExifIFD.Flash: flash,
    }
    if lens:
        exif[piexif.ExifIFD.LensModel] = lens.encode()
    if subsec:
        exif[piexif.ExifIFD.SubSecTimeOriginal] = subsec.encode()
    if offset:
        exif[0x9011] = offset.encode()  # OffsetTimeOriginal
    gps_ifd = {}
    if gps:
        lat, lon, alt = gps
        gps_ifd = {
            piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S", piexif.GPSIFD.GPSLatitude: _dms(lat),
            piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W", piexif.GPSIFD.GPSLongitude: _dms(lon),
            piexif.GPSIFD.GPSAltitudeRef: 0 if alt >= 0 else 1, piexif.GPSIFD.GPSAltitude: _rational(abs(alt)),
            piexif.GPSIFD.GPSDateStamp: when.strftime("%Y:%m:%d").encode(),
            piexif.GPSIFD.GPSTimeStamp: ((when.hour, 1), (when.minute, 1), (when.second, 1)),
        }
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps_ifd, "1st": {}, "thumbnail": None})


def store_rotated(img: Image.Image, orientation: int) -> Image.Image:
    """Return the pixels a camera would *store* so that applying ``orientation`` shows ``img`` upright."""
    inverse = {
        1: [], 2: [Image.Transpose.FLIP_LEFT_RIGHT], 3: [Image.Transpose.ROTATE_180],
        4: [Image.Transpose.FLIP_TOP_BOTTOM], 5: [Image.Transpose.TRANSPOSE], 6: [Image.Transpose.ROTATE_90],
        7: [Image.Transpose.TRANSVERSE], 8: [Image.Transpose.ROTATE_270],
    }[orientation]
    for op in inverse:
        img = img.transpose(op)
    return img


def jpeg_bytes(img: Image.Image, exif: bytes | None = None, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    kwargs = {"quality": quality}
    if exif:
        kwargs["exif"] = exif
    img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def make_sample_set(folder: Path, size: tuple[int, int] = (1600, 1200)) -> list[Path]:
    """About 40 photos covering what the analyzer must handle; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    w, h = size
    base = dt.datetime(2023, 7, 4, 9, 0, 0)
    places = [(48.8584, 2.2945, 35.0), (-33.8568, 151.2153, 5.0), (40.6892, -74.0445, 10.0),
              (-22.9519, -43.2105, 700.0), (31.7767, 35.2345, -410.0)]

    def save(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        written.append(path)
        return path

    # 1-15: camera JPEGs from five cameras, with GPS on most
    for i in range(15):
        make, model, lens = CAMERAS[i % len(CAMERAS)]
        when = base + dt.timedelta(days=i * 11, hours=i)
        gps = places[i % len(places)] if i % 4 != 3 else None
        exif = camera_exif(make, model, lens, when, gps, iso=100 * (1 + i % 8), focal=24 + 4 * i)
        save(f"IMG_{1000 + i:04d}.JPG", jpeg_bytes(scene(w, h, seed=i), exif))
    # all eight orientations of one scene, stored rotated with the tag that makes them upright
    upright = scene(w, h, seed=100)
    for o in range(1, 9):
        exif = camera_exif(*CAMERAS[0], base + dt.timedelta(days=200, minutes=o), places[0], orientation=o)
        save(f"orientation_{o}.jpg", jpeg_bytes(store_rotated(upright, o), exif))
    # sharp vs blurred, under and over exposed
    sharp = scene(w, h, seed=200)
    save("sharp.jpg", jpeg_bytes(sharp, camera_exif(*CAMERAS[1], base + dt.timedelta(days=300))))
    save("blurred.jpg", jpeg_bytes(sharp.filter(ImageFilter.GaussianBlur(6)),
                                   camera_exif(*CAMERAS[1], base + dt.timedelta(days=300, seconds=2))))
    dark = Image.eval(sharp, lambda v: v // 5)
    bright = Image.eval(sharp, lambda v: min(255, 120 + v))
    save("underexposed.jpg", jpeg_bytes(dark, camera_exif(*CAMERAS[2], base + dt.timedelta(days=301))))
    save("overexposed.jpg", jpeg_bytes(bright, camera_exif(*CAMERAS[2], base + dt.timedelta(days=302))))
    # near-duplicates of IMG_1000: resized, recompressed, PNG copy
    original = Image.open(written[0])
    original.load()
    small = original.resize((w // 2, h // 2), Image.Resampling.LANCZOS)
    save("IMG_1000_small.jpg", jpeg_bytes(small, original.info.get("exif"), quality=85))
    save("IMG_1000_recompressed.jpg", jpeg_bytes(original, original.info.get("exif"), quality=55))
    buf = io.BytesIO()
    original.save(buf, "PNG")
    save("IMG_1000_copy.png", buf.getvalue())
    # an exact copy in a sub-folder
    sub = folder / "backup"
    sub.mkdir(exist_ok=True)
    (sub / "IMG_1001.JPG").write_bytes(written[1].read_bytes())
    written.append(sub / "IMG_1001.JPG")
    # a HEIC from a phone (pillow-heif), with EXIF
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        buf = io.BytesIO()
        scene(w, h, seed=300).save(buf, "HEIF", quality=80,
                                   exif=camera_exif(*CAMERAS[3], base + dt.timedelta(days=320), places[1]))
        save("IMG_2001.HEIC", buf.getvalue())
    except Exception:  # pragma: no cover - pillow-heif is a dependency; keep the demo going without it
        pass
    # WebP and a PNG screenshot-like image without EXIF
    buf = io.BytesIO()
    scene(w // 2, h // 2, seed=400).save(buf, "WEBP", quality=80)
    save("shared_photo.webp", buf.getvalue())
    shot = Image.new("RGB", (1170, 2532), (250, 250, 250))
    d = ImageDraw.Draw(shot)
    for k in range(20):
        d.rectangle([40, 100 + k * 120, 1130, 180 + k * 120], fill=(230, 235, 245), outline=(200, 200, 210))
        d.text((60, 120 + k * 120), f"Message {k}: see you at the beach at {9 + k % 12}:00", fill=(20, 20, 20))
    buf = io.BytesIO()
    shot.save(buf, "PNG")
    save("Screenshot_20230801-101500.png", buf.getvalue())
    # bad input: truncated JPEG, a text file named .jpg, a zero-byte file, a PNG named .jpg
    good = written[2].read_bytes()
    save("broken_truncated.jpg", good[: len(good) // 3])
    save("not_really.jpg", b"This is a text file, not a photo.\n")
    save("empty.jpg", b"")
    buf = io.BytesIO()
    scene(640, 480, seed=500).save(buf, "PNG")
    save("png_named.jpg", buf.getvalue())
    # odd file names: emoji, and raw bytes that are not UTF-8 (where the file system allows it)
    save("vacances été 🌞.jpg", jpeg_bytes(scene(w, h, seed=600), camera_exif(*CAMERAS[4], base)))
    try:
        raw_name = os.fsencode(folder) + b"/caf\xe9_latin1.jpg"
        with open(raw_name, "wb") as fh:
            fh.write(jpeg_bytes(scene(w // 2, h // 2, seed=700), camera_exif(*CAMERAS[4], base)))
        written.append(Path(os.fsdecode(raw_name)))
    except (OSError, UnicodeError):  # pragma: no cover - file systems that insist on UTF-8
        pass
    return written
