"""Issue 17 item 3: a truncated file is an error, never a "good photo" measured on the decoder's fill."""

import io
from pathlib import Path

import pytest
from PIL import Image

from imgengine.core.catalog import Catalog
from imgengine.core.decode import register_heif
from imgengine.engine.run import run_analysis
from imgengine.testing.samples import scene

FORMATS = [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("AVIF", "avif"), ("TIFF", "tif"), ("HEIF", "heic")]


def _encoded(fmt: str) -> bytes | None:
    register_heif()
    buf = io.BytesIO()
    try:
        scene(1200, 900, seed=1).save(buf, fmt, quality=90) if fmt != "PNG" else scene(1200, 900, seed=1).save(buf, fmt)
    except (KeyError, OSError, ValueError):
        return None
    return buf.getvalue()


def _assert_all_failed(root: Path, settings, names: list[str]) -> None:
    run_analysis(root, settings.replace(vision=False))
    with Catalog(settings.catalog) as cat:
        for name in names:
            rec = cat.get(root / name)
            assert rec["status"] == "error", f"{name} was taken for a good photo"
            assert "truncated" in rec["error"] or "cannot open" in rec["error"], rec["error"]
            for analyzer in ("hashes", "content"):  # nothing measured on fill pixels
                assert (rec["results"].get(analyzer) or {}).get("phash" if analyzer == "hashes" else "quality") \
                    is None, f"{name}: {analyzer} computed from a partial picture"


@pytest.mark.parametrize(("fmt", "ext"), FORMATS)
def test_truncated_files_of_every_format_are_errors(tmp_path: Path, settings, fmt: str, ext: str):
    data = _encoded(fmt)
    if data is None:
        pytest.skip(f"this Pillow cannot write {fmt}")
    root = tmp_path / "p"
    root.mkdir()
    names = []
    for frac in (0.33, 0.6, 0.95):
        name = f"cut_{int(frac * 100)}.{ext}"
        (root / name).write_bytes(data[: int(len(data) * frac)])
        names.append(name)
    (root / f"whole.{ext}").write_bytes(data)
    _assert_all_failed(root, settings, names)
    with Catalog(settings.catalog) as cat:
        assert cat.get(root / f"whole.{ext}")["status"] == "ok"


def test_truncated_real_heic_is_an_error(corpus: Path, tmp_path: Path, settings):
    src = corpus / "heic" / "IMG_5195.HEIC"
    if not src.is_file():
        pytest.skip("corpus HEIC not present")
    root = tmp_path / "p"
    root.mkdir()
    data = src.read_bytes()
    (root / "first_third.heic").write_bytes(data[: len(data) // 3])
    _assert_all_failed(root, settings, ["first_third.heic"])


def test_generated_heic_really_decodes_when_whole():
    data = _encoded("HEIF")
    if data is None:
        pytest.skip("pillow-heif cannot encode here")
    register_heif()
    assert Image.open(io.BytesIO(data)).size == (1200, 900)
