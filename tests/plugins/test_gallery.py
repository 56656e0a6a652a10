"""`imgengine export gallery`: the built site, incremental thumbnails, and the page in a real headless Chromium.

The browser tests use Debian's chromium (`/usr/bin/chromium`, installed by .ci/run) driven by Python
playwright; they skip when either is absent. Screenshots are kept in `test-artifacts/gallery/`.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.plugins.builtin.gallery.build import FIELDS, GalleryOptions, write_site
from imgengine.testing.samples import camera_exif
from tests.conftest import write_jpeg

runner = CliRunner()
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "gallery"
F = {name: i for i, name in enumerate(FIELDS)}


def _data(site: Path) -> dict:
    text = (site / "data" / "photos.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("=") + 1:].rstrip().rstrip(";"))


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, Path]:
    """Photos with dates over two years, GPS on some, a rotated one, an exact copy and a broken file."""
    root = tmp_path / "photos"
    for i in range(8):
        when = dt.datetime(2022 + i % 2, 1 + i, 3, 12, 0, 0)
        gps = (48.85 + i / 100, 2.35, 30.0) if i < 3 else None
        write_jpeg(root / f"IMG_{i:04d}.jpg", seed=i, exif=camera_exif(gps=gps, when=when))
    write_jpeg(root / "rotated.jpg", size=(640, 480), seed=20, orientation=6)
    shutil.copy(root / "IMG_0000.jpg", root / "IMG_0000 copy.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    cat = tmp_path / "cat.db"
    res = runner.invoke(app, ["analyze", str(root), "--catalog", str(cat), "--no-vision", "--workers", "1"])
    assert res.exit_code == 1, res.output
    return root, cat


def _build(root: Path, cat: Path, site: Path, *extra: str) -> str:
    res = runner.invoke(app, ["export", "gallery", str(root), "--catalog", str(cat), "--out", str(site),
                              "--workers", "1", *extra])
    assert res.exit_code == 0, res.output
    return res.output


def test_build_thumbnails_upright_and_incremental(library, tmp_path):
    root, cat = library
    site = tmp_path / "site"
    out = _build(root, cat, site)
    assert "10 photos" in out and "9 thumbnails made, 0 reused" in out  # the copy shares its thumbnails
    data = _data(site)
    assert len(data["photos"]) == 10 and data["fields"] == FIELDS
    for rel in ("index.html", "assets/app.js", "assets/style.css", "assets/vendor/leaflet.js",
                "assets/vendor/world-land.js"):
        assert (site / rel).is_file(), rel
    rotated = next(p for p in data["photos"] if p[F["name"]] == "rotated.jpg")
    thumb = site / "thumbs" / rotated[F["key"]][:2] / f"{rotated[F['key']]}-256.webp"
    preview = site / "previews" / rotated[F["key"]][:2] / f"{rotated[F['key']]}-1600.webp"
    with Image.open(thumb) as t, Image.open(preview) as p:
        # stored as 480x640 pixels with orientation 6: the upright picture is the 640x480 scene
        assert t.width > t.height and min(t.size) == 256
        assert p.size == (640, 480)                             # never upscaled
    dups = [p for p in data["photos"] if p[F["dup"]]]
    assert sorted(p[F["name"]] for p in dups) == ["IMG_0000 copy.jpg", "IMG_0000.jpg"]
    assert len({p[F["dup"]] for p in dups}) == 1

    # a second build makes nothing; new photos get only their own thumbnails
    assert "0 thumbnails made, 9 reused" in _build(root, cat, site)
    write_jpeg(root / "new1.jpg", seed=40)
    write_jpeg(root / "new2.jpg", seed=41)
    runner.invoke(app, ["analyze", str(root), "--catalog", str(cat), "--no-vision", "--workers", "1"])
    assert "2 thumbnails made, 9 reused" in _build(root, cat, site)
    assert len(_data(site)["photos"]) == 12


def test_thumbnails_from_analyze_decode_nothing_again(tmp_path, monkeypatch):
    """With the thumbnails plugin, analyze writes the previews from its own decode and the gallery links
    them: no second decode, and the files are byte-identical to the ones the gallery would make itself."""
    root = tmp_path / "photos"
    for i in range(3):
        write_jpeg(root / f"IMG_{i}.jpg", size=(2400, 1800), seed=i)
    write_jpeg(root / "rotated.jpg", size=(1800, 1200), seed=9, orientation=6)
    cat, cache = tmp_path / "cat.db", tmp_path / "cache"
    monkeypatch.setenv("IMGENGINE_PLUGINS__THUMBNAILS__CACHE_DIR", str(cache))
    res = runner.invoke(app, ["analyze", str(root), "--catalog", str(cat), "--no-vision", "--workers", "1",
                              "--plugin", "thumbnails", "-q"])
    assert res.exit_code == 0, res.output
    assert len(list(cache.rglob("*.webp"))) == 4 * 3

    from imgengine.core import decode

    def no_decode(*_a, **_k):
        raise AssertionError("the gallery decoded a photo that analyze had already decoded")

    monkeypatch.setattr(decode, "decode_for_analysis", no_decode)
    out = _build(root, cat, tmp_path / "site")
    assert "0 thumbnails made, 0 reused, 4 from analyze's cache" in out
    monkeypatch.undo()
    monkeypatch.setenv("IMGENGINE_PLUGINS__THUMBNAILS__CACHE_DIR", str(tmp_path / "empty"))
    assert "4 thumbnails made" in _build(root, cat, tmp_path / "own")
    linked = sorted(p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("*.webp"))
    own = sorted(p.relative_to(tmp_path / "own") for p in (tmp_path / "own").rglob("*.webp"))
    assert linked == own and len(linked) == 12
    for rel in linked:
        assert (tmp_path / "site" / rel).read_bytes() == (tmp_path / "own" / rel).read_bytes(), rel
    data = _data(tmp_path / "site")
    rotated = next(p for p in data["photos"] if p[F["name"]] == "rotated.jpg")
    with Image.open(tmp_path / "site" / "previews" / rotated[F["key"]][:2] / f"{rotated[F['key']]}-1600.webp") as im:
        assert im.size == (1600, 1067)      # the 1800x1200 scene upright (stored 1200x1800 with orientation 6)


def test_filter_and_bad_options(library, tmp_path):
    root, cat = library
    site = tmp_path / "site"
    out = _build(root, cat, site, "--filter", "has_gps and year = 2022")
    assert "left out by the filter" in out
    names = sorted(p[F["name"]] for p in _data(site)["photos"])
    assert names == ["IMG_0000 copy.jpg", "IMG_0000.jpg", "IMG_0002.jpg"]
    res = runner.invoke(app, ["export", "gallery", str(root), "--catalog", str(cat), "--out", str(site),
                              "--filter", "colour = red"])
    assert res.exit_code == 2 and "unknown field" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["export", "gallery", str(root), "--catalog", str(cat), "--out", str(site),
                              "--thumb-format", "gif"])
    assert res.exit_code == 2 and "webp or avif" in res.output


# -- in a real browser ----------------------------------------------------------------------------------

def _browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return sync_api


ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_gallery_in_chromium(library, tmp_path):
    sync_api = _browser()
    root, cat = library
    site = tmp_path / "site"
    _build(root, cat, site, "--title", "Family 🌍 photos")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((site / "index.html").as_uri())
            page.wait_for_selector(".cell img")
            assert page.title() == "Family 🌍 photos"
            assert page.text_content("#count") == "10 photos"
            # every thumbnail on screen actually loaded (decoded image with a size)
            page.wait_for_function("[...document.querySelectorAll('.cell img')].every(i => i.complete)")
            assert page.evaluate("[...document.querySelectorAll('.cell img')].every(i => i.naturalWidth > 0)")
            _shot(page, "grid")

            # filters: GPS only, then a camera-independent date range, then clear
            page.check("#f-gps")
            assert page.text_content("#count") == "4 of 10 photos"
            assert page.locator(".cell").count() == 4
            page.fill("#f-from", "2023-01-01")
            page.dispatch_event("#f-from", "change")
            assert page.text_content("#count") == "1 of 10 photos"
            page.click("#f-clear")
            assert page.text_content("#count") == "10 photos"
            page.check("#f-dup")
            assert page.locator(".cell").count() == 2
            page.click("#f-clear")

            # lightbox with the metadata panel, keyboard navigation
            page.click(".cell >> nth=0")
            assert page.is_visible("#lightbox")
            page.wait_for_function("document.querySelector('#lb-img').naturalWidth > 0")
            meta = page.text_content("#lb-meta")
            assert "Canon EOS 5D Mark IV" in meta and "1 / 10" in meta
            page.keyboard.press("ArrowRight")
            assert "2 / 10" in page.text_content("#lb-meta")
            _shot(page, "lightbox")
            page.keyboard.press("Escape")
            assert not page.is_visible("#lightbox")

            # timeline: a click on a month filters the grid to it
            page.click("nav button[data-view=timeline]")
            assert page.locator(".tl-year").count() == 2
            _shot(page, "timeline")
            page.click(".tl-bar[data-month='2022-01']")
            assert page.is_visible("#grid") and page.text_content("#count") == "2 of 10 photos"
            page.click("#f-clear")

            # map: the world outline and one marker per GPS photo; a marker opens the lightbox
            page.click("nav button[data-view=map]")
            page.wait_for_selector("#map .leaflet-overlay-pane canvas")
            assert page.text_content("#map-note").startswith("4 of 10 photos have GPS")
            _shot(page, "map")
            points = page.evaluate("window.imgengineGallery.mapPoints()")
            assert len(points) == 4
            box = page.locator("#map").bounding_box()
            page.mouse.click(box["x"] + points[0]["x"], box["y"] + points[0]["y"])
            assert page.is_visible("#lightbox")
            assert "GPS" in page.text_content("#lb-meta")
            page.keyboard.press("Escape")
            assert errors == [], errors
        finally:
            browser.close()


def test_50000_photos_scroll_without_loading_everything(tmp_path):
    """A virtualised grid: 50,000 entries, and only the thumbnails near the viewport are ever requested."""
    sync_api = _browser()
    site = tmp_path / "site"
    entries = []
    for i in range(50_000):
        key = f"{i:032x}"
        entries.append([key, 4000, 3000, f"{2000 + i % 25}-{1 + i % 12:02d}-01 10:00", 0, [1], [], -1, i % 4,
                        None, None, 0, f"IMG_{i:05d}.jpg", f"IMG_{i:05d}.jpg", 1000, "jpeg", "", -1, 50.0])
    write_site(site, entries, ["Camera", "beach"], GalleryOptions())
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url) if "/thumbs/" in r.url else None)
            page.goto((site / "index.html").as_uri())
            page.wait_for_selector(".cell")
            assert page.text_content("#count") == "50000 photos"
            first = len(set(requested))
            cells = page.locator(".cell").count()
            assert 0 < cells < 200 and first <= cells
            # scroll through the middle to the end
            for frac in (0.25, 0.5, 1.0):
                page.evaluate(f"document.querySelector('#grid').scrollTop = "
                              f"document.querySelector('#grid').scrollHeight * {frac}")
                page.wait_for_timeout(150)
            page.wait_for_selector(".cell[data-index='49999']")
            assert page.locator(".cell").count() < 200          # the DOM stays small
            assert len(set(requested)) < 1000                   # not 50,000 thumbnails
            _shot(page, "grid-50000-end")
        finally:
            browser.close()
