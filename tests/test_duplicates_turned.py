"""Copies saved turned (pixels rotated by 90/180/270 degrees, no EXIF tag) or mirrored are found, on
generated and real photos; their mirror images or turns are still told apart from different photos; the
thumbnail hashes agree with the stored ones; the budgeted search is exact within its budget and says
when it is not; the "searching" step reports truthful progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgengine.processors.dedup import DedupParams, find_duplicates
from imgengine.processors.dedup import thumbhash as T
from imgengine.processors.dedup.index import hex_to_codes, pairs_within, popcount64, search
from imgengine.progress import CountingSteps
from imgengine.testing.samples import scene
from tests.test_duplicates_generalise import _corpus_photo, entry, groups, jpeg_roundtrip

TURNS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270,
         Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.TRANSPOSE)


def turned_copies(img: Image.Image) -> list[Image.Image]:
    """The photo saved turned three ways, mirrored, and turned + mirrored; one of them also resized."""
    out = [jpeg_roundtrip(img.transpose(t), 88) for t in TURNS]
    out.append(jpeg_roundtrip(img.transpose(Image.Transpose.ROTATE_90).resize((img.height // 2, img.width // 2)), 80))
    return out


@pytest.mark.parametrize("seed", [5, 17])
def test_turned_and_mirrored_copies_group_with_their_original_generated(seed: int) -> None:
    img = scene(480, 640, seed=seed)
    copies = turned_copies(img)
    entries = [entry(0, img)] + [entry(i + 1, c) for i, c in enumerate(copies)]
    entries.append(entry(len(entries), scene(480, 640, seed=seed + 50)))
    res = find_duplicates(entries)
    assert groups(res) == [list(range(len(copies) + 1))]
    said = {m.entry.id: m.turned for m in res.groups[0].members}
    keeper = res.groups[0].keeper.id
    quarter = {"turned 90 degrees", "turned 270 degrees"}
    if keeper == 0:
        assert said[1] in quarter and said[2] == "turned 180 degrees" and said[3] in quarter
        assert said[4] == "mirrored"
    assert sum(v is not None for v in said.values()) >= len(copies) - 1
    # without the turned search they are not found: the hashes of a turned copy share nothing with the original's
    plain = find_duplicates(entries, DedupParams(turned=False))
    assert all(len(g) <= 2 for g in groups(plain))


def test_turned_copies_group_with_their_original_corpus(corpus: Path) -> None:
    img = _corpus_photo(corpus, "jpg/gps/DSCN0010.jpg")
    copies = turned_copies(img)
    entries = [entry(0, img)] + [entry(i + 1, c) for i, c in enumerate(copies)]
    assert groups(find_duplicates(entries)) == [list(range(len(copies) + 1))]


def test_mirrored_regions_of_one_photo_are_not_copies(corpus: Path) -> None:
    """The left half of a real photo and the mirrored right half: different pictures (a facade is nearly
    symmetric), while two turns of the right half are copies of each other."""
    img = _corpus_photo(corpus, "jpg/gps/DSCN0010.jpg")
    w, h = img.size
    left, right = img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))
    entries = [entry(0, left), entry(1, jpeg_roundtrip(right.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
               entry(2, jpeg_roundtrip(right.transpose(Image.Transpose.ROTATE_180))),
               entry(3, jpeg_roundtrip(left.transpose(Image.Transpose.FLIP_TOP_BOTTOM).crop((0, 0, w // 2, h // 2))))]
    assert groups(find_duplicates(entries)) == [[1, 2]]


# -- thumbnail hashes and the dihedral group ------------------------------------------------------------

def test_thumbnail_hashes_match_the_stored_hashes_and_turn_consistently() -> None:
    from skimage import data

    imgs = [Image.fromarray(data.astronaut()), Image.fromarray(data.coffee()), Image.fromarray(data.camera()),
            scene(480, 640, seed=1)]
    es = [entry(i, im) for i, im in enumerate(imgs)]
    thumbs = np.stack([e.thumb_array() for e in es])
    p, _d, w = T.hashes(thumbs)
    for name, mine in (("phash", p), ("whash", w)):
        stored = hex_to_codes([getattr(e, name) for e in es])[0]
        assert popcount64(mine ^ stored).max() <= 4, name
    c = T.low_dct(thumbs)
    for k in range(8):
        turned = np.ascontiguousarray(T.transform(thumbs, k))
        assert np.array_equal(T.phash_from_dct(T._dct_transform(c, k)), T.phash_from_dct(T.low_dct(turned)))
        assert T.compose(int(T.inverse(k)), k) == T.IDENTITY
        # a turned thumbnail's canonical pHash equals one of the original's
        n0, _, p0, _ = T.canonical_hashes(thumbs)
        n1, _, p1, _ = T.canonical_hashes(turned)
        for i in range(len(thumbs)):
            assert set(p0[n0 == i].tolist()) & set(p1[n1 == i].tolist())


# -- the budgeted search ------------------------------------------------------------------------------

def _clustered_codes(n: int, seed: int = 0) -> np.ndarray:
    """Codes with crowded chunk values (like wHash's bright-sky rows) plus near copies."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    crowd = rng.random(n) < 0.3
    base[crowd] = (base[crowd] & np.uint64(0xFFFF_FFFF_FFFF_0000)) | np.uint64(0xFFFF)
    copies = base[: n // 10] ^ (np.uint64(1) << rng.integers(0, 64, n // 10).astype(np.uint64))
    return np.concatenate([base, copies])


def test_search_is_exact_within_its_budget_and_says_when_it_is_not() -> None:
    codes = _clustered_codes(3000)
    exact = pairs_within(codes, 9)
    a, b = exact[:, 0], exact[:, 1]
    assert (popcount64(codes[a] ^ codes[b]) <= 9).all()
    # brute force agrees
    i, j = np.triu_indices(len(codes), 1)
    brute = np.stack([i, j], 1)[popcount64(codes[i] ^ codes[j]) <= 9]
    assert {tuple(x) for x in exact.tolist()} == {tuple(x) for x in brute.tolist()}
    full = search(codes, 9, budget=1e12, workers=2)
    assert full.exact and {tuple(x) for x in full.pairs.tolist()} == {tuple(x) for x in exact.tolist()}
    small = search(codes, 9, budget=len(codes) * 20)
    assert not small.exact and small.checked <= len(codes) * 20 * 1.05 + 4 * 3300
    got = {tuple(x) for x in small.pairs.tolist()}
    assert got <= {tuple(x) for x in exact.tolist()}
    # every copy (one bit from its original) is still found: crowded buckets are left out, not rare ones
    n = 3000
    for k in range(n // 10):
        assert (k, n + k) in got or popcount64(codes[k:k + 1] ^ codes[n + k:n + k + 1])[0] > 9


def test_search_applies_the_summed_limit_while_searching() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 2**63, 500, dtype=np.int64).astype(np.uint64)
    other = rng.integers(0, 2**63, 500, dtype=np.int64).astype(np.uint64)
    a = np.concatenate([a, a[:50]])
    other = np.concatenate([other, other[:50] ^ np.uint64(0xFF)])      # 8 bits off in the other hash
    res = search(a, 5, others=(other,), max_total=7)
    assert len(res.pairs) == 0
    res = search(a, 5, others=(other,), max_total=8)
    assert {tuple(x) for x in res.pairs.tolist()} == {(k, 500 + k) for k in range(50)}


def test_searching_step_reports_every_pass() -> None:
    imgs = [scene(240, 320, seed=s) for s in range(4)]
    entries = [entry(i, im) for i, im in enumerate(imgs)]
    entries.append(entry(4, jpeg_roundtrip(imgs[0].transpose(Image.Transpose.ROTATE_90))))
    steps = CountingSteps()
    res = find_duplicates(entries, progress=steps)
    assert steps.totals["searching"] > 0 and steps.done["searching"] == steps.totals["searching"]
    assert steps.done["comparing"] == steps.totals["comparing"] == res.candidate_pairs
    assert "searching" in steps.ended and "comparing" in steps.ended
    assert res.search_exact


# -- one decode per file ----------------------------------------------------------------------------------

def test_duplicates_after_analyze_decodes_nothing_again(tmp_path: Path, settings, monkeypatch) -> None:
    """Hashes and thumbnails come from the analysis' one decode: a `duplicates` scan of a folder that
    `analyze` has seen reads them from the catalog and decodes no file again (the HTML report's previews
    aside, which are not asked for here)."""
    from imgengine.core import decode
    from imgengine.engine.run import run_analysis
    from imgengine.processors.dedup import scan_duplicates
    from imgengine.testing.samples import jpeg_bytes

    root = tmp_path / "photos"
    root.mkdir()
    img = scene(480, 640, seed=8)
    (root / "a.jpg").write_bytes(jpeg_bytes(img, quality=90))
    (root / "a_turned.jpg").write_bytes(jpeg_bytes(img.transpose(Image.Transpose.ROTATE_90), quality=85))
    (root / "b.jpg").write_bytes(jpeg_bytes(scene(480, 640, seed=9), quality=90))
    run_analysis(root, settings.replace(vision=False))
    calls = []
    real = decode.decode_for_analysis
    monkeypatch.setattr(decode, "decode_for_analysis", lambda *a, **k: calls.append(a) or real(*a, **k))
    result, summary, _ = scan_duplicates(root, settings.replace(vision=False))
    assert calls == [] and summary["analyzed"] == 0 and summary["skipped_unchanged"] == 3
    assert [sorted(m.entry.path.name for m in g.members) for g in result.groups] == [["a.jpg", "a_turned.jpg"]]


def test_cli_reports_a_turned_copy_and_whether_the_search_was_exhaustive(tmp_path: Path, monkeypatch) -> None:
    import json

    from typer.testing import CliRunner

    from imgengine.cli.app import app
    from imgengine.testing.samples import jpeg_bytes

    monkeypatch.setenv("IMGENGINE_LOG_DIR", str(tmp_path / "logs"))
    root = tmp_path / "photos"
    root.mkdir()
    img = scene(480, 640, seed=12)
    (root / "a.jpg").write_bytes(jpeg_bytes(img, quality=92))
    (root / "a_mirrored.jpg").write_bytes(jpeg_bytes(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), quality=85))
    r = CliRunner().invoke(app, ["duplicates", str(root), "--json", "--no-clip"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["summary"]["search_exact"] is True and len(doc["groups"]) == 1
    photos = doc["groups"][0]["photos"]
    assert [p["turned"] for p in photos] == [None, "mirrored"]
    r = CliRunner().invoke(app, ["duplicates", str(root), "--no-clip"])
    assert r.exit_code == 0 and "mirrored" in r.output
