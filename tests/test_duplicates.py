"""imgengine duplicates: index, verification, grouping (hard negatives, no chaining), keeper choice,
actions with undo, and bad input."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image, ImageDraw, ImageEnhance
from typer.testing import CliRunner

from imgengine.cli.app import app
from imgengine.core.catalog import Catalog
from imgengine.processors import journal as jr
from imgengine.processors.dedup import DedupParams, PhotoEntry, find_duplicates, scan_duplicates
from imgengine.processors.dedup.actions import apply_actions, plan_actions
from imgengine.processors.dedup.finder import _complete_linkage, _Edge
from imgengine.processors.dedup.index import pairs_within, popcount64
from imgengine.processors.dedup.keeper import choose_keeper
from imgengine.processors.dedup.verify import prepare, residual
from imgengine.testing.samples import camera_exif, jpeg_bytes, scene, store_rotated

runner = CliRunner()
SIZE = (480, 360)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_family(folder: Path, seed: int, name: str, gps: bool = False) -> dict[str, Path]:
    """An original camera JPEG and every kind of copy of it."""
    folder.mkdir(parents=True, exist_ok=True)
    img = scene(*SIZE, seed=seed)
    exif = camera_exif(when=dt.datetime(2020, 5, 1 + seed % 20, 10, 0, 0),
                       gps=(48.1, 11.5, 500.0) if gps else None)
    out = {}
    out["original"] = folder / f"{name}.jpg"
    out["original"].write_bytes(jpeg_bytes(img, exif, 92))
    out["resized"] = folder / f"{name}_small.jpg"
    img.resize((SIZE[0] // 2, SIZE[1] // 2), Image.Resampling.LANCZOS).save(out["resized"], quality=80)
    out["recompressed"] = folder / f"{name}_whatsapp.jpg"
    img.save(out["recompressed"], quality=30)
    out["png"] = folder / f"{name}_screenshot.png"
    img.save(out["png"])
    w, h = SIZE
    out["crop"] = folder / f"{name}_crop.jpg"
    img.crop((int(w * 0.05), int(h * 0.05), w, h)).save(out["crop"], quality=90)
    out["bright"] = folder / f"{name}_bright.jpg"
    ImageEnhance.Brightness(img).enhance(1.25).save(out["bright"], quality=90)
    out["overlay"] = folder / f"{name}_mark.jpg"
    o = img.copy()
    ImageDraw.Draw(o).text((10, h - 24), "(c) family", fill=(255, 255, 255))
    o.save(out["overlay"], quality=90)
    out["rotated"] = folder / f"{name}_rotated.jpg"
    out["rotated"].write_bytes(jpeg_bytes(store_rotated(img, 6), camera_exif(orientation=6), 90))
    return out


@pytest.fixture
def family_dir(tmp_path: Path) -> tuple[Path, dict[str, Path], Path]:
    root = tmp_path / "photos"
    fam = make_family(root, 1, "IMG_0001")
    other = root / "other.jpg"
    other.write_bytes(jpeg_bytes(scene(*SIZE, seed=2), camera_exif(), 90))
    return root, fam, other


def groups_of(result) -> list[set[str]]:
    return [{m.entry.path.name for m in g.members} for g in result.groups]


# -- index ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_dist", [0, 3, 7, 11, 15])
def test_multi_index_finds_exactly_the_brute_force_pairs(max_dist: int) -> None:
    rng = np.random.default_rng(max_dist)
    codes = rng.integers(0, 2**63, 1500, dtype=np.int64).astype(np.uint64)
    flips = np.zeros(750, dtype=np.uint64)
    for _ in range(rng.integers(1, 8)):
        flips |= np.uint64(1) << rng.integers(0, 64, 750).astype(np.uint64)
    codes[1::2] = codes[0::2] ^ flips
    got = {tuple(p) for p in pairs_within(codes, max_dist).tolist()}
    d = popcount64(codes[:, None] ^ codes[None, :])
    a, b = np.nonzero(np.triu(d <= max_dist, 1))
    assert got == set(zip(a.tolist(), b.tolist(), strict=True))


def test_multi_index_skips_invalid_codes() -> None:
    codes = np.array([5, 5, 5], dtype=np.uint64)
    valid = np.array([True, False, True])
    assert pairs_within(codes, 0, valid).tolist() == [[0, 2]]


# -- verification -----------------------------------------------------------------------------------

def _thumb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BOX), np.float32)


def test_residual_small_for_copies_large_for_other_photos() -> None:
    img = scene(480, 360, seed=3)
    w, h = img.size
    a = prepare(_thumb(img))
    crop = prepare(_thumb(img.crop((int(w * 0.05), 0, w, h))))
    bright = prepare(_thumb(ImageEnhance.Contrast(img).enhance(1.3)))
    other = prepare(_thumb(scene(480, 360, seed=4)))
    assert residual(a, crop) < 0.12
    assert residual(a, bright) < 0.12
    assert residual(a, other) > 0.3


def test_flat_images_are_never_near_duplicates() -> None:
    black = prepare(np.zeros((32, 32), np.float32))
    assert black is None
    assert residual(black, prepare(_thumb(scene(64, 48, seed=1)))) == float("inf")


# -- grouping ---------------------------------------------------------------------------------------

def test_every_kind_of_copy_is_one_group_and_other_photos_stay_out(family_dir, settings) -> None:
    root, fam, other = family_dir
    result, _, _ = scan_duplicates(root, settings)
    groups = groups_of(result)
    assert {p.name for p in fam.values()} in groups
    assert not any(other.name in g for g in groups)
    g = result.groups[0]
    assert g.keeper.path == fam["original"]          # full resolution, camera metadata
    assert g.bytes_freed == sum(p.stat().st_size for k, p in fam.items() if k != "original")


def test_exact_copies_group_by_sha256_and_exact_only(tmp_path: Path, settings) -> None:
    root = tmp_path / "p"
    root.mkdir()
    a = root / "a.jpg"
    a.write_bytes(jpeg_bytes(scene(*SIZE, seed=5), camera_exif(), 90))
    (root / "sub").mkdir()
    b = root / "sub" / "a copy.jpg"
    b.write_bytes(a.read_bytes())
    near = root / "a_small.jpg"
    scene(*SIZE, seed=5).resize((240, 180)).save(near, quality=80)
    result, _, _ = scan_duplicates(root, settings, DedupParams(exact_only=True))
    assert groups_of(result) == [{"a.jpg", "a copy.jpg"}]
    assert result.groups[0].kind == "exact"
    assert result.groups[0].reasons[0].startswith("identical bytes")
    result, _, _ = scan_duplicates(root, settings)
    assert groups_of(result) == [{"a.jpg", "a copy.jpg", "a_small.jpg"}]


def test_hard_negatives_tiles_and_different_scenes(tmp_path: Path, settings) -> None:
    root = tmp_path / "p"
    root.mkdir()
    pano = scene(1400, 360, seed=7)
    pano.crop((0, 0, 480, 360)).save(root / "tile0.jpg", quality=92)
    pano.crop((400, 0, 880, 360)).save(root / "tile1.jpg", quality=92)   # 80 px overlap
    for s in range(8, 12):
        scene(*SIZE, seed=s).save(root / f"s{s}.jpg", quality=92)
    result, _, _ = scan_duplicates(root, settings)
    assert result.groups == []


def test_grouping_does_not_chain() -> None:
    # 0~1 and 1~2 verified, 0 and 2 not: 2 must not join 0's group
    edges = {(0, 1): _Edge(0.01, 3, None), (1, 2): _Edge(0.02, 5, None)}
    clusters = _complete_linkage(3, edges)
    assert sorted(map(sorted, clusters)) == [[0, 1], [2]]
    edges[(0, 2)] = _Edge(0.05, 9, None)
    assert sorted(map(sorted, _complete_linkage(3, edges))) == [[0, 1, 2]]


def test_chain_of_real_images_is_split(tmp_path: Path) -> None:
    """A blends into C through B (each step a small change); A and C differ a lot."""
    a, c = scene(*SIZE, seed=20), scene(*SIZE, seed=21)
    imgs = [Image.blend(a, c, t) for t in (0.0, 0.12, 0.24, 0.36, 0.48, 0.6, 0.72, 0.84, 1.0)]
    from imgengine.analyzers.hashes import grey_thumb, perceptual_hashes

    entries = []
    for i, im in enumerate(imgs):
        p, d, w = perceptual_hashes(im)
        g = im.convert("L")
        entries.append(PhotoEntry(id=i, path=tmp_path / f"{i}.jpg", display=f"{i}.jpg", size=1, mtime_ns=0,
                                  format="jpeg", sha256=str(i), phash=p, dhash=d, whash=w,
                                  thumb=grey_thumb(g.resize((256, 192))), width=480, height=360))
    res = find_duplicates(entries, DedupParams(threshold=60, max_residual=0.3))
    for g in res.groups:
        ids = [m.entry.id for m in g.members]
        assert max(ids) - min(ids) < len(imgs) - 1   # never both ends in one group


def test_clip_embeddings_veto_and_find(tmp_path: Path) -> None:
    from imgengine.analyzers.hashes import grey_thumb, perceptual_hashes

    img = scene(*SIZE, seed=30)
    crop = img.crop((0, 0, int(SIZE[0] * 0.95), int(SIZE[1] * 0.95)))

    def entry(i, im, emb):
        p, d, w = perceptual_hashes(im)
        return PhotoEntry(id=i, path=tmp_path / f"{i}.jpg", display=f"{i}.jpg", size=1, mtime_ns=0,
                          format="jpeg", sha256=str(i), phash=p, dhash=d, whash=w,
                          thumb=grey_thumb(im.convert("L")), width=im.width, height=im.height, embedding=emb)

    e1 = np.zeros(8, np.float32)
    e1[0] = 1
    e2 = np.zeros(8, np.float32)
    e2[1] = 1
    # same picture, but CLIP says they differ: vetoed
    res = find_duplicates([entry(0, img, e1), entry(1, crop, e2)])
    assert res.clip_used and res.groups == []
    # without embeddings the hashes + thumbnails find it
    assert len(find_duplicates([entry(0, img, None), entry(1, crop, None)]).groups) == 1


# -- keeper -----------------------------------------------------------------------------------------

def _e(i: int, **kw) -> PhotoEntry:
    base = {"id": i, "path": Path(f"/x/{i}.jpg"), "display": f"{i}.jpg", "size": 1000, "mtime_ns": i, "format": "jpeg",
                "sha256": str(i), "width": 100, "height": 100}
    base.update(kw)
    return PhotoEntry(**base)


def test_keeper_choice_order_and_reasons() -> None:
    k, why = choose_keeper([_e(1, width=50, height=50), _e(2)])
    assert k.id == 2 and "highest resolution" in why[0]
    k, why = choose_keeper([_e(1), _e(2, date="2020-01-01T10:00:00", has_gps=True)])
    assert k.id == 2 and "most metadata" in why[0]
    k, why = choose_keeper([_e(1, format="png", size=9000), _e(2, format="heic")])
    assert k.id == 2 and "original format" in why[0]
    k, why = choose_keeper([_e(1, size=300), _e(2, size=900)])
    assert k.id == 2 and "least compressed" in why[0]
    k, why = choose_keeper([_e(1, quality=40.0), _e(2, quality=80.0)])
    assert k.id == 2 and "quality" in why[0]
    k, why = choose_keeper([_e(1, date="2021-01-01T00:00:00"), _e(2, date="2019-01-01T00:00:00")])
    assert k.id == 2 and "oldest capture" in why[0]


# -- actions ----------------------------------------------------------------------------------------

def _run(*args: str):
    r = runner.invoke(app, [*args])
    return r


def _json(r) -> dict:
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_dry_run_changes_nothing_and_lists_plan(family_dir) -> None:
    root, fam, _ = family_dir
    before = {p: sha(p) for p in root.rglob("*.jp*g")}
    doc = _json(_run("duplicates", str(root), "--delete", "--json"))
    assert doc["summary"]["groups"] == 1
    assert len(doc["plan"]["steps"]) == len(fam) - 1
    assert all(s["op"] == "trash" for s in doc["plan"]["steps"])
    assert {p: sha(p) for p in root.rglob("*.jp*g")} == before
    assert not (root / ".imgengine" / "journal").exists()


def test_delete_needs_the_confirmation_word(family_dir) -> None:
    root, fam, _ = family_dir
    r = _run("duplicates", str(root), "--delete", "--apply")
    assert r.exit_code == 2
    r = _run("duplicates", str(root), "--delete", "--apply", "--confirm", "del")
    assert r.exit_code == 2
    assert all(p.exists() for p in fam.values())


def test_delete_apply_keeps_the_keeper_and_undo_restores(family_dir) -> None:
    root, fam, other = family_dir
    before = {p: sha(p) for p in fam.values()}
    doc = _json(_run("duplicates", str(root), "--delete", "--apply", "--confirm", "delete", "--json"))
    run_id = doc["applied"]["run_id"]
    assert fam["original"].exists() and other.exists()
    assert not any(p.exists() for k, p in fam.items() if k != "original")
    # a second run finds nothing left to do (trash is not part of the collection)
    assert _json(_run("duplicates", str(root), "--json"))["summary"]["groups"] == 0
    r = _run("undo", run_id, "--dir", str(root))
    assert r.exit_code == 0, r.output
    assert {p: sha(p) for p in fam.values()} == before


def test_move_to_with_name_clash_and_undo(family_dir, tmp_path: Path) -> None:
    root, fam, _ = family_dir
    dest = tmp_path / "dups"
    clash = dest / fam["resized"].name
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"someone else's file")
    doc = _json(_run("duplicates", str(root), "--move-to", str(dest), "--apply", "--json"))
    assert clash.read_bytes() == b"someone else's file"
    moved = {Path(s["dst"]).name for s in doc["applied"]["steps"] if s["status"] == "done"}
    assert len(moved) == len(fam) - 1
    assert fam["original"].exists()
    assert any(n.startswith(fam["resized"].stem + "_") for n in moved)   # suffixed, not overwritten
    r = _run("undo", doc["applied"]["run_id"], "--dir", str(root))
    assert r.exit_code == 0, r.output
    assert all(p.exists() for p in fam.values())


def test_hardlink_apply_and_undo(family_dir) -> None:
    """Identical copies become links to the keeper; near duplicates are refused (a link would replace
    their picture with the keeper's)."""
    root, fam, _ = family_dir
    same = root / "sub" / "IMG_0001 copy.jpg"
    same.parent.mkdir()
    same.write_bytes(fam["original"].read_bytes())
    before = {p: sha(p) for p in [*fam.values(), same]}
    doc = _json(_run("duplicates", str(root), "--hardlink", "--apply", "--json"))
    keeper = fam["original"]
    assert os.path.samefile(same, keeper)
    for k, p in fam.items():
        if k != "original":
            assert not os.path.samefile(p, keeper)
    assert doc["plan"]["bytes_to_trash"] == keeper.stat().st_size
    assert "byte-identical" in doc["plan"]["skipped_groups"][0]["reason"]
    assert {p: sha(p) for p in [*fam.values(), same]} == before
    r = _run("undo", doc["applied"]["run_id"], "--dir", str(root))
    assert r.exit_code == 0, r.output
    assert {p: sha(p) for p in [*fam.values(), same]} == before
    assert not os.path.samefile(same, keeper)


def test_stale_group_is_not_acted_on(family_dir, settings) -> None:
    root, fam, _ = family_dir
    result, _, _ = scan_duplicates(root, settings)
    # a copy changes after analysis (same size: only the re-hash can tell)
    data = bytearray(fam["bright"].read_bytes())
    data[-3] ^= 0xFF
    fam["bright"].write_bytes(bytes(data))
    plan = plan_actions(result.groups, "delete", root)
    assert plan.steps == []
    assert plan.skipped and "stale" in plan.skipped[0][1]


def test_vanished_file_skips_group_and_vanished_at_apply_is_skipped(family_dir, settings, tmp_path) -> None:
    root, fam, _ = family_dir
    result, _, _ = scan_duplicates(root, settings)
    plan = plan_actions(result.groups, "delete", root)
    assert len(plan.steps) == len(fam) - 1
    fam["png"].unlink()                        # gone between plan and apply
    with Catalog(settings.catalog_path(root)) as cat:
        j = jr.Journal.begin(tmp_path / "state", "duplicates", {}, cat)
        with j:
            rep = apply_actions(plan, j)
    statuses = {r.src.name: r.status for r in rep.results}
    assert statuses[fam["png"].name] == "skipped"
    assert fam["original"].exists()
    fam["original"].unlink()
    result2 = plan_actions(result.groups, "delete", root)
    assert result2.steps == []                 # keeper gone: never delete what may be the last copy


def _gps_of(path: Path):
    return piexif.load(path.read_bytes()).get("GPS", {}).get(piexif.GPSIFD.GPSLatitude)


def test_merge_metadata_into_keeper_and_undo_restores_bytes(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    img = scene(*SIZE, seed=40)
    keeper = root / "big.jpg"            # full size, camera EXIF without GPS
    keeper.write_bytes(jpeg_bytes(img, camera_exif(), 92))
    small = root / "small.jpg"           # smaller copy that has GPS and keywords
    exif = piexif.load(camera_exif(gps=(48.1, 11.5, 500.0)))
    exif["0th"][piexif.ImageIFD.XPKeywords] = tuple("beach;holiday".encode("utf-16-le") + b"\x00\x00")
    small.write_bytes(jpeg_bytes(img.resize((240, 180)), piexif.dump(exif), 85))
    original = keeper.read_bytes()
    doc = _json(_run("duplicates", str(root), "--move-to", str(tmp_path / "dups"), "--merge-metadata",
                     "--apply", "--json"))
    assert doc["applied"]["merged_metadata"] == [str(keeper)]
    assert _gps_of(keeper) is not None
    from imgengine.analyzers.metadata import read_metadata

    assert {"beach", "holiday"} <= set(read_metadata(keeper).keywords)   # XMP + IPTC, through the tag writer
    with Image.open(keeper) as a, Image.open(io.BytesIO(original)) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))     # pixels untouched
    r = _run("undo", doc["applied"]["run_id"], "--dir", str(root))
    assert r.exit_code == 0, r.output
    assert keeper.read_bytes() == original
    assert small.exists()


def test_read_only_keeper_is_not_rewritten(tmp_path: Path) -> None:
    from .conftest import run_cli, unprivileged_prefix

    prefix = unprivileged_prefix()  # as root (CI), file modes are enforced through setpriv
    if prefix is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    root = tmp_path / "p"
    root.mkdir()
    img = scene(*SIZE, seed=41)
    keeper = root / "big.jpg"
    keeper.write_bytes(jpeg_bytes(img, camera_exif(), 92))
    (root / "small.jpg").write_bytes(jpeg_bytes(img.resize((240, 180)), camera_exif(gps=(1.0, 2.0, 3.0)), 85))
    keeper.chmod(0o444)
    try:
        p = run_cli(["duplicates", root, "--hardlink", "--merge-metadata", "--json"], prefix)
        doc = json.loads(p.stdout)
        assert any("read-only" in s["reason"] for s in doc["plan"]["skipped_groups"])
        assert doc["plan"]["metadata_merges"] == []
    finally:
        keeper.chmod(0o644)


def test_outputs_json_file_and_html(family_dir, tmp_path: Path) -> None:
    root, fam, _ = family_dir
    out, page = tmp_path / "groups.json", tmp_path / "report.html"
    r = _run("duplicates", str(root), "-o", str(out), "--html", str(page))
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["groups"][0]["keeper"].endswith(fam["original"].name)
    assert doc["groups"][0]["reasons"]
    text = page.read_text()
    assert "data:image/jpeg;base64" in text and "KEEP" in text
    r = _run("duplicates", str(root), "-o", str(tmp_path / "x.txt"))
    assert r.exit_code == 2


def test_catalog_is_reused_not_recomputed(family_dir, settings) -> None:
    root, _, _ = family_dir
    _, s1, _ = scan_duplicates(root, settings)
    _, s2, _ = scan_duplicates(root, settings)
    assert s1["analyzed"] > 0 and s2["analyzed"] == 0 and s2["skipped_unchanged"] == s1["analyzed"]


def test_shared_catalog_compares_against_the_whole_catalog(tmp_path: Path, settings) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    fam = make_family(a, 50, "orig")
    b.mkdir()
    (b / "copy.jpg").write_bytes(fam["resized"].read_bytes())
    (b / "unrelated.jpg").write_bytes(jpeg_bytes(scene(*SIZE, seed=51), camera_exif(), 90))
    scan_duplicates(a, settings)
    result, _, _ = scan_duplicates(b, settings, whole_catalog=True)
    assert len(result.groups) == 1
    names = {m.entry.path.name for m in result.groups[0].members}
    assert "copy.jpg" in names and "orig.jpg" in names


def test_corpus_hdr_pairs_are_not_duplicates_and_rotated_copy_is(corpus: Path, tmp_path: Path, settings) -> None:
    root = tmp_path / "c"
    root.mkdir()
    for p in (corpus / "jpg" / "hdr").glob("*.jpg"):
        (root / p.name).write_bytes(p.read_bytes())
    src = corpus / "jpg" / "gps" / "DSCN0010.jpg"
    (root / "canon.jpg").write_bytes(src.read_bytes())
    with Image.open(src) as im:
        small = im.convert("RGB").resize((im.width // 3, im.height // 3))
    (root / "canon_rot.jpg").write_bytes(jpeg_bytes(store_rotated(small, 8), camera_exif(orientation=8), 85))
    result, _, _ = scan_duplicates(root, settings)
    assert groups_of(result) == [{"canon.jpg", "canon_rot.jpg"}]


def _other_fs(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second writable file system here")
    return shm


def test_move_to_another_file_system_copies_verifies_and_undoes(family_dir, tmp_path: Path) -> None:
    import shutil
    import uuid

    root, fam, _ = family_dir
    dest = _other_fs(tmp_path) / f"imgengine-test-{uuid.uuid4().hex}"
    try:
        before = {p: sha(p) for p in fam.values()}
        doc = _json(_run("duplicates", str(root), "--move-to", str(dest), "--apply", "--json"))
        done = [s for s in doc["applied"]["steps"] if s["status"] == "done"]
        assert len(done) == len(fam) - 1
        assert all(Path(s["dst"]).exists() and not Path(s["src"]).exists() for s in done)
        r = _run("undo", doc["applied"]["run_id"], "--dir", str(root))
        assert r.exit_code == 0, r.output
        assert {p: sha(p) for p in fam.values()} == before
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_hardlink_across_file_systems_is_skipped_with_reason(tmp_path: Path, settings) -> None:
    import shutil
    import uuid

    other = _other_fs(tmp_path) / f"imgengine-test-{uuid.uuid4().hex}"
    try:
        root = tmp_path / "p"
        fam = make_family(root, 60, "x")
        other.mkdir()
        shutil.copy2(fam["original"], other / "x copy.jpg")     # identical bytes: a link candidate
        scan_duplicates(root, settings)
        result, _, _ = scan_duplicates(other, settings, whole_catalog=True)
        plan = plan_actions(result.groups, "hardlink", root)
        assert any("another file system" in why for _, why in plan.skipped)
        assert all(s.src.parent != other for s in plan.steps)
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_interrupted_apply_is_settled_and_undone(family_dir, tmp_path: Path) -> None:
    """The process dies after some deletions, before the journal is finished: undo still restores."""
    import subprocess
    import sys
    import textwrap

    root, fam, _ = family_dir
    before = {p: sha(p) for p in fam.values()}
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from imgengine.settings import Settings
        from imgengine.processors.dedup import scan_duplicates
        from imgengine.processors.dedup.actions import plan_actions, apply_actions
        from imgengine.processors import journal as jr
        root = Path({str(root)!r})
        res, _, _ = scan_duplicates(root, Settings(workers=1, log_dir=Path({str(tmp_path / 'logs')!r})))
        plan = plan_actions(res.groups, "delete", root)
        plan.steps = plan.steps[:3]
        j = jr.Journal.begin(root / ".imgengine", "duplicates", {{}}, None)
        apply_actions(plan, j)
        os._exit(9)   # killed: no finish record
    """)
    r = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 9, r.stderr
    assert sum(not p.exists() for p in fam.values()) == 3
    r = _run("undo", "--dir", str(root))
    assert r.exit_code == 0, r.output
    assert {p: sha(p) for p in fam.values()} == before


def test_burst_frames_with_camera_times_are_not_duplicates(tmp_path: Path, settings) -> None:
    """Two frames that look alike but whose EXIF times are a quarter second apart are a burst."""
    img = scene(*SIZE, seed=70)
    frame2 = img.crop((4, 0, SIZE[0], SIZE[1])).resize(SIZE)     # the camera moved a little
    t0 = dt.datetime(2021, 6, 1, 12, 0, 0)
    root = tmp_path / "burst"
    root.mkdir()
    (root / "f1.jpg").write_bytes(jpeg_bytes(img, camera_exif(when=t0, subsec="250"), 92))
    (root / "f2.jpg").write_bytes(jpeg_bytes(frame2, camera_exif(when=t0, subsec="500"), 92))
    result, _, _ = scan_duplicates(root, settings)
    assert result.groups == []
    # the same pixels with the same capture time (a copy keeps its time) are duplicates
    root2 = tmp_path / "copy"
    root2.mkdir()
    (root2 / "f1.jpg").write_bytes(jpeg_bytes(img, camera_exif(when=t0, subsec="250"), 92))
    (root2 / "f2.jpg").write_bytes(jpeg_bytes(frame2, camera_exif(when=t0, subsec="250"), 92))
    result, _, _ = scan_duplicates(root2, settings)
    assert groups_of(result) == [{"f1.jpg", "f2.jpg"}]
    # and burst detection can be switched off
    result, _, _ = scan_duplicates(root, settings, DedupParams(burst_seconds=0))
    assert groups_of(result) == [{"f1.jpg", "f2.jpg"}]


def _entry(i: int, img: Image.Image, tmp_path: Path) -> PhotoEntry:
    from imgengine.analyzers.hashes import grey_thumb, perceptual_hashes

    p, d, w = perceptual_hashes(img)
    g = img.convert("L")
    g.thumbnail((256, 256), Image.Resampling.BOX)
    return PhotoEntry(id=i, path=tmp_path / f"{i}.jpg", display=f"{i}.jpg", size=1, mtime_ns=0, format="jpeg",
                      sha256=str(i), phash=p, dhash=d, whash=w, thumb=grey_thumb(g),
                      width=img.width, height=img.height)


def test_untimed_burst_frames_of_equal_size_shifted_are_not_duplicates(tmp_path: Path) -> None:
    """No capture times: two frames of the same size, the camera moved ~2 % between them."""
    wide = scene(SIZE[0] + 40, SIZE[1] + 30, seed=71)
    f1 = wide.crop((10, 10, 10 + SIZE[0], 10 + SIZE[1]))
    f2 = wide.crop((22, 14, 22 + SIZE[0], 14 + SIZE[1]))
    entries = [_entry(0, f1, tmp_path), _entry(1, f2, tmp_path)]
    assert find_duplicates(entries).groups == []
    # without the rule they pass as a crop copy: the rule is what rejects them
    assert len(find_duplicates(entries, DedupParams(burst_shift=0)).groups) == 1


def test_crop_copies_survive_the_burst_rule(tmp_path: Path) -> None:
    """A 5 % crop (smaller) and the same crop scaled back to the original size (a zoom) stay copies."""
    img = scene(*SIZE, seed=72)
    w, h = SIZE
    crop = img.crop((int(w * 0.05), int(h * 0.05), w, h))
    zoom = img.crop((int(w * 0.025), int(h * 0.025), w - int(w * 0.025), h - int(h * 0.025))).resize(
        SIZE, Image.Resampling.LANCZOS)
    entries = [_entry(0, img, tmp_path), _entry(1, crop, tmp_path), _entry(2, zoom, tmp_path)]
    assert [sorted(m.entry.id for m in g.members) for g in find_duplicates(entries).groups] == [[0, 1, 2]]
