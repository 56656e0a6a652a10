import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from imgengine.analyzers.base import AnalysisInput
from imgengine.analyzers.content import ContentAnalyzer, bucket
from imgengine.analyzers.hashes import HashAnalyzer
from imgengine.core.decode import decode_for_analysis, find_embedded_jpeg
from imgengine.core.photo import Photo
from imgengine.errors import DecodeError, DecompressionBombError, UnsupportedFormatError
from imgengine.settings import Settings
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene, store_rotated

from .conftest import write_jpeg


def decode(path: Path, **kw):
    return decode_for_analysis(Photo.from_path(path), None, **kw)


def test_jpeg_draft_decodes_straight_to_analysis_size(tmp_path: Path):
    p = write_jpeg(tmp_path / "big.jpg", size=(4000, 3000))
    d = decode(p, analysis_size=1024)
    assert d.pixels_source == "draft 1/4"
    assert d.image.size == (1000, 750) and d.image.mode == "RGB"
    assert (d.width, d.height) == (4000, 3000)
    small = decode(write_jpeg(tmp_path / "small.jpg", size=(800, 600)), analysis_size=1024)
    assert small.pixels_source == "full" and small.image.size == (800, 600)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_applied_before_analysis(tmp_path: Path, orientation: int):
    upright = scene(400, 300, seed=3)
    stored = store_rotated(upright, orientation)
    p = tmp_path / f"o{orientation}.jpg"
    p.write_bytes(jpeg_bytes(stored, camera_exif(orientation=orientation), quality=95))
    d = decode(p)
    assert d.image.size == (400, 300)
    assert d.upright_size == (400, 300)
    diff = np.abs(np.asarray(d.image, np.int16) - np.asarray(upright, np.int16)).mean()
    assert diff < 6, f"orientation {orientation}: pixels not upright (mean diff {diff:.1f})"


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header(30000, 30000))
    t = time.perf_counter()
    with pytest.raises(DecompressionBombError, match="900 megapixels"):
        decode(p)
    assert time.perf_counter() - t < 2  # a header read, not a 2.7 GB allocation


def test_truncated_and_corrupt_jpeg(tmp_path: Path):
    data = write_jpeg(tmp_path / "ok.jpg", size=(800, 600)).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        decode(cut)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(data[:200] + bytes(range(256)) * 40)
    with pytest.raises(DecodeError):
        decode(bad)


def _tiff_with_preview(preview: bytes, orientation: int = 1) -> bytes:
    """A minimal little-endian TIFF-based RAW: IFD0 (orientation, thumbnail offsets) + the preview JPEG."""
    entries = [(0x0112, 3, 1, orientation), (0x0201, 4, 1, 0), (0x0202, 4, 1, len(preview))]
    ifd_size = 2 + len(entries) * 12 + 4
    data_offset = 8 + ifd_size
    entries[1] = (0x0201, 4, 1, data_offset)
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, typ, count, value in entries:
        out += struct.pack("<HHII", tag, typ, count, value) if typ == 4 else \
            struct.pack("<HHIHH", tag, typ, count, value, 0)
    out += struct.pack("<I", 0) + preview
    return bytes(out)


def test_raw_uses_embedded_preview(tmp_path: Path):
    preview = jpeg_bytes(scene(600, 400, seed=5), quality=90)
    raw = _tiff_with_preview(preview, orientation=6)
    assert find_embedded_jpeg(raw) == preview
    p = tmp_path / "DSC_0001.NEF"
    p.write_bytes(raw)
    photo = Photo.from_path(p)
    assert photo.format == "raw" and not photo.extension_mismatch
    d = decode_for_analysis(photo, None)
    assert d.pixels_source == "embedded preview"
    assert d.image.size == (341, 512)
    content = ContentAnalyzer().analyze(AnalysisInput(photo, Settings()))
    assert content.pixels_source == "embedded preview"  # orientation 6 from the RAW's IFD0 applied to the preview


def test_raw_without_preview_is_a_clear_error(tmp_path: Path):
    p = tmp_path / "x.dng"
    p.write_bytes(b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    with pytest.raises(UnsupportedFormatError, match="embedded preview"):
        decode(p)


@pytest.mark.parametrize("mode", ["CMYK", "L", "I;16", "P", "RGBA", "LA"])
def test_odd_modes_become_rgb(tmp_path: Path, mode: str):
    base = scene(200, 150, seed=1)
    img = base.convert("L").convert("I;16") if mode == "I;16" else base.convert(mode)
    fmt = "JPEG" if mode in ("CMYK", "L") else ("TIFF" if mode == "I;16" else "PNG")
    p = tmp_path / f"x.{fmt.lower()}"
    img.save(p, fmt)
    d = decode(p)
    assert d.image.mode == "RGB" and d.image.size == (200, 150)


def test_heic_and_avif_decode(tmp_path: Path):
    import pillow_heif

    pillow_heif.register_heif_opener()
    for fmt, name in (("HEIF", "x.heic"), ("AVIF", "x.avif")):
        p = tmp_path / name
        scene(320, 240, seed=2).save(p, fmt, quality=80)
        d = decode(p)
        assert d.image.size == (320, 240)


def _content(path: Path, settings=None):
    item = AnalysisInput(Photo.from_path(path), settings or Settings())
    return ContentAnalyzer().analyze(item)


def test_sharp_vs_blurred_and_quality(tmp_path: Path):
    img = scene(1200, 900, seed=7)
    sharp = tmp_path / "sharp.jpg"
    blur = tmp_path / "blur.jpg"
    sharp.write_bytes(jpeg_bytes(img, quality=92))
    blur.write_bytes(jpeg_bytes(img.filter(ImageFilter.GaussianBlur(5)), quality=92))
    a, b = _content(sharp), _content(blur)
    assert a.sharpness > 5 * b.sharpness
    assert not a.blurry and b.blurry
    assert a.quality_score > b.quality_score
    assert b.quality in ("poor", "average")


def test_exposure_verdicts_and_colours(tmp_path: Path):
    img = scene(600, 400, seed=8)
    dark, bright = tmp_path / "dark.jpg", tmp_path / "bright.jpg"
    dark.write_bytes(jpeg_bytes(Image.eval(img, lambda v: v // 5)))
    bright.write_bytes(jpeg_bytes(Image.eval(img, lambda v: min(255, 130 + v))))
    assert _content(dark).exposure == "under"
    r = _content(bright)
    assert r.exposure == "over" and r.highlights_clipped > 5
    two = Image.new("RGB", (400, 400), (255, 0, 0))
    two.paste((0, 0, 255), (0, 0, 400, 100))
    p = tmp_path / "two.png"
    two.save(p)
    colours = _content(p).dominant_colors
    assert colours[0]["hex"] == "#ff0000" and abs(colours[0]["share"] - 0.75) < 0.02
    assert colours[1]["hex"] == "#0000ff"


def test_noise_estimate_grows_with_noise(tmp_path: Path):
    base = np.full((400, 600), 128, np.float32)
    base[:, 300:] = 60
    rng = np.random.default_rng(0)
    sigmas = []
    for sigma in (0, 5, 15):
        arr = np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)
        p = tmp_path / f"n{sigma}.png"
        Image.fromarray(arr, "L").save(p)
        sigmas.append(_content(p).noise)
    # measured on the 512-px working copy, where resampling averages part of the noise away
    assert sigmas[0] < 0.5 and 1.0 < sigmas[1] < sigmas[2] / 2 and sigmas[2] > 4


def test_bucket_edges():
    assert [bucket(s) for s in (95, 80, 79.9, 60, 40, 39)] == \
        ["excellent", "excellent", "good", "good", "average", "poor"]


def test_hashes(tmp_path: Path):
    import hashlib

    img = scene(1200, 900, seed=9)
    a = tmp_path / "a.jpg"
    a.write_bytes(jpeg_bytes(img, quality=92))
    small = tmp_path / "small.jpg"
    small.write_bytes(jpeg_bytes(img.resize((600, 450)), quality=70))
    rotated = tmp_path / "rot.jpg"
    rotated.write_bytes(jpeg_bytes(store_rotated(img, 6), camera_exif(orientation=6), quality=92))
    other = tmp_path / "other.jpg"
    other.write_bytes(jpeg_bytes(scene(1200, 900, seed=99)))

    def h(p):
        return HashAnalyzer().analyze(AnalysisInput(Photo.from_path(p), Settings()))

    ha, hs, hr, ho = h(a), h(small), h(rotated), h(other)
    assert ha.sha256 == hashlib.sha256(a.read_bytes()).hexdigest()

    def dist(x, y):
        return bin(int(x, 16) ^ int(y, 16)).count("1")

    for field in ("phash", "dhash", "whash"):
        assert dist(getattr(ha, field), getattr(hs, field)) <= 6, field
        assert dist(getattr(ha, field), getattr(hr, field)) <= 6, field  # hashes of upright pixels
    assert dist(ha.phash, ho.phash) > 16


def test_wavelet_hash_matches_imagehash():
    import imagehash

    from imgengine.analyzers.hashes import wavelet_hash

    same = 0
    for seed in range(30):
        g = scene(400, 300, seed=seed).convert("L")
        g.thumbnail((256, 256), Image.Resampling.BOX)
        same += wavelet_hash(g) == imagehash.whash(g, image_scale=64)
    assert same >= 29  # identical but for float ties at the median


def _tiff_with_subifd_preview(preview: bytes, loop: bool = False) -> bytes:
    """DNG-style: IFD0 lists a SubIFD whose strip is a JPEG (Compression 7); optionally IFD0 links to itself."""
    ifd0_at, sub_at = 8, 8 + 2 + 12 + 4
    data_at = sub_at + 2 + 3 * 12 + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd0_at))
    out += struct.pack("<H", 1) + struct.pack("<HHII", 0x014A, 4, 1, sub_at)
    out += struct.pack("<I", ifd0_at if loop else 0)
    out += struct.pack("<H", 3)
    out += struct.pack("<HHIHH", 0x0103, 3, 1, 7, 0)
    out += struct.pack("<HHII", 0x0111, 4, 1, data_at) + struct.pack("<HHII", 0x0117, 4, 1, len(preview))
    out += struct.pack("<I", 0) + preview
    return bytes(out)


def test_raw_preview_in_a_subifd_and_broken_ifds():
    preview = jpeg_bytes(scene(300, 200, seed=6), quality=85)
    assert find_embedded_jpeg(_tiff_with_subifd_preview(preview)) == preview
    assert find_embedded_jpeg(_tiff_with_subifd_preview(preview, loop=True)) == preview  # the loop ends
    for junk in (b"", b"II*\x00", b"II*\x00\xff\xff\xff\x7f" + bytes(64), b"MM\x00*" + bytes(4000)):
        assert find_embedded_jpeg(junk) is None
