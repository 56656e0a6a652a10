"""Duplicate finder benchmark, honest: thresholds fitted on one half of the labelled set, every figure
reported on the other (held-out) half; imagededup's PHash and a plain pHash scored in the same run.

    python benchmarks/dedup_bench.py [--keep DIR] [--workers 2] [--heavy] [--scale 100000,1000000]

The labelled set (``dedup_set.py``) is split by source photo: a photo's copies, its regions' copies and
its bursts all fall in the same half. On the tuning half the finder's residual limits (normal and
low-texture) are chosen for the best F1 with precision >= 0.995; imagededup's and the plain pHash's
thresholds for their best F1. All are then scored once on the held-out half: pairwise precision,
recall, F1, recall per kind of copy, false pairs by kind of hard negative.

``--heavy``: 5,000 photos of which >= 90 % fall in groups of 20-80 copies (crops, resizes,
recompression, tone edits of real corpus photos, hashed at 256 px), timed end to end.
``--scale``: the candidate search (as the finder runs it: pHash and wHash searches, the turned-copy
search) at 100k and 1M photos of a realistic hash set (``dedup_scale.py``: distinct photos grown from
windows of real photos with their chunk statistics, 15 % copies in groups of 2-6 made by real edits'
bit patterns), wall and CPU time, peak memory, recall of the copies; up to 200k also the exhaustive
search for comparison.

imagededup goes into the benchmark's environment only (``pip install --no-deps imagededup`` plus
scikit-learn); its CNN module imports torchvision, which the benchmark stubs out when it is missing --
the PHash code that runs is imagededup's own.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import platform
import resource
import sys
import tempfile
import time
import types
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_set import CROP_KINDS, EDIT_KINDS, LabelledSet, build_set, load_manifest, save_manifest

from imgengine.analyzers.base import AnalysisInput
from imgengine.analyzers.hashes import HashAnalyzer, grey_thumb, perceptual_hashes
from imgengine.analyzers.metadata import MetadataAnalyzer
from imgengine.core.decode import register_heif
from imgengine.core.photo import Photo
from imgengine.processors.dedup import DedupParams, PhotoEntry, find_duplicates
from imgengine.processors.dedup import finder as F
from imgengine.processors.dedup.align import texture
from imgengine.processors.dedup.index import hex_to_codes, pairs_within, popcount64
from imgengine.settings import Settings

TARGET_PRECISION = 0.995


def score(pred: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float, float]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def group_pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    out = set()
    for g in groups:
        for a, b in itertools.combinations(sorted(g), 2):
            out.add((a, b))
    return out


# -- signals -----------------------------------------------------------------------------------------

def _signal(args: tuple[int, str]) -> PhotoEntry:
    i, path = args
    register_heif()
    settings = Settings()
    photo = Photo.from_path(Path(path))
    res = HashAnalyzer().analyze(AnalysisInput(photo, settings))
    md = MetadataAnalyzer().analyze(AnalysisInput(photo, settings))
    return PhotoEntry(id=i, path=Path(path), display=Path(path).name, size=photo.size, mtime_ns=photo.mtime_ns,
                      format=photo.format, sha256=res.sha256, phash=res.phash, dhash=res.dhash, whash=res.whash,
                      thumb=res.thumb, width=res.width, height=res.height, date=md.datetime_original)


def signals(ls: LabelledSet, workers: int, cache: Path | None) -> tuple[list[PhotoEntry], float]:
    if cache is not None and cache.exists():
        entries, rate = pickle.loads(cache.read_bytes())
        if len(entries) == len(ls.items):
            return entries, rate
    t = time.perf_counter()
    jobs = [(i, str(it.path)) for i, it in enumerate(ls.items)]
    with ProcessPoolExecutor(workers) as ex:
        entries = list(ex.map(_signal, jobs, chunksize=8))
    rate = len(entries) / (time.perf_counter() - t)
    if cache is not None:
        cache.write_bytes(pickle.dumps((entries, rate)))
    return entries, rate


def subset(entries: list[PhotoEntry], ls: LabelledSet, part: LabelledSet) -> tuple[list[PhotoEntry], LabelledSet]:
    """Entries of ``part`` (a half of ``ls``), re-numbered 0..n-1 in ``part``'s order."""
    index = {id(it): i for i, it in enumerate(ls.items)}
    out = []
    for k, it in enumerate(part.items):
        out.append(replace(entries[index[id(it)]], id=k))
    return out, part


# -- ours: fitting on edges ----------------------------------------------------------------------------

def _nodes(entries: list[PhotoEntry]) -> list:
    by_sha: dict[str, list[PhotoEntry]] = {}
    for e in entries:
        by_sha.setdefault(e.sha256 or f"none{e.id}", []).append(e)
    return [F._Node(files, files[0]) for files in by_sha.values()]


def edge_table(entries: list[PhotoEntry], params: DedupParams) -> tuple[list, dict, dict]:
    """Every candidate pair verified with permissive limits: (nodes, edges, texture per edge)."""
    nodes = _nodes(entries)
    loose = replace(params, max_residual=0.16, low_texture_residual=0.16, turned_residual=0.16, linkage="complete")
    raw = F._thumb_stack(nodes)
    cand, dist, turn, _ = F._candidates(nodes, raw, loose, None)
    edges, _ = F._verify(nodes, cand, dist, None, loose, None, turn, raw)
    checker = F._Checker(nodes, None, loose)
    tex = {}
    if edges:
        keys = np.array(list(edges), np.int64)
        t = texture(checker.thumbs.stack[keys[:, 0]])
        u = texture(checker.thumbs.stack[keys[:, 1]])
        tex = dict(zip(map(tuple, keys.tolist()), np.minimum(t, u).tolist(), strict=True))
    return nodes, edges, tex


def pairs_from_edges(nodes, edges, tex, max_res: float, low_tex: float, low_res: float,
                     turned_res: float = 1.0) -> set[tuple[int, int]]:
    """The groups star linkage makes from the edges that pass these limits."""
    kept = {k: e for k, e in edges.items()
            if e.residual <= min(low_res if tex[k] < low_tex else max_res, turned_res if e.turn else 1.0)}
    n = len(nodes)
    rank = sorted(range(n), key=lambda i: max(F.rank_key(f) for f in nodes[i].files), reverse=True)
    nbrs: dict[int, list[int]] = {}
    for a, b in kept:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    grouped: set[int] = set()
    groups = []
    for hub in rank:
        if hub in grouped or hub not in nbrs:
            continue
        members = [x for x in nbrs[hub] if x not in grouped]
        if members:
            grouped.update(members)
            grouped.add(hub)
            groups.append([hub, *members])
    return group_pairs([[f.id for n in g for f in nodes[n].files] for g in groups])


def fit_ours(entries, truth, base: DedupParams) -> tuple[DedupParams, tuple[float, float, float]]:
    best = None
    for low_tex in (0.5, 1.0, 1.5, 2.0, 3.0):
        params = replace(base, low_texture=low_tex)
        nodes, edges, tex = edge_table(entries, params)
        for max_res in (0.06, 0.07, 0.075, 0.08, 0.085, 0.09, 0.095, 0.1, 0.11, 0.12, 0.13, 0.14):
            for low_res in (0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08):
                if low_res > max_res:
                    continue
                s = score(pairs_from_edges(nodes, edges, tex, max_res, low_tex, low_res), truth)
                key = (s[0] >= TARGET_PRECISION, s[2], s[0])
                if best is None or key > best[0]:
                    best = (key, replace(params, max_residual=max_res, low_texture_residual=low_res), s,
                            (nodes, edges, tex))
    # then the limit for turned/mirrored pairs, the others fixed
    fitted, (nodes, edges, tex) = best[1], best[3]
    top = None
    for turned_res in (0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12):
        s = score(pairs_from_edges(nodes, edges, tex, fitted.max_residual, fitted.low_texture,
                                   fitted.low_texture_residual, turned_res), truth)
        key = (s[0] >= TARGET_PRECISION, s[2], s[0])
        if top is None or key > top[0]:
            top = (key, replace(fitted, turned_residual=turned_res), s)
    return top[1], top[2]


def ours(entries: list[PhotoEntry], params: DedupParams) -> tuple[set[tuple[int, int]], float]:
    t = time.perf_counter()
    res = find_duplicates(entries, params)
    return group_pairs([[m.entry.id for m in g.members] for g in res.groups]), time.perf_counter() - t


# -- imagededup and plain pHash --------------------------------------------------------------------------

def load_imagededup():
    """imagededup's PHash class, or None. Its CNN parts import torchvision; the hashing code does not."""
    try:
        import imagededup  # noqa: F401
    except ImportError:
        return None
    for name, attr in (("imagededup.utils.models", "CustomModel"), ("imagededup.methods.cnn", "CNN")):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - any import failure of the CNN parts
            stub = types.ModuleType(name)
            setattr(stub, attr, None)
            sys.modules[name] = stub
    try:
        from imagededup.methods import PHash
    except Exception as exc:  # noqa: BLE001 - report and fall back
        print(f"imagededup installed but not importable ({exc})")
        return None
    return PHash


def imagededup_codes(ls: LabelledSet, PHash, cache: Path | None) -> list[str | None]:
    if cache is not None and cache.exists():
        codes = pickle.loads(cache.read_bytes())
        if len(codes) == len(ls.items):
            return codes
    import logging

    logging.disable(logging.WARNING)
    ph = PHash(verbose=False)
    codes = []
    for it in ls.items:
        try:
            codes.append(ph.encode_image(image_file=str(it.path)) or None)
        except Exception:  # noqa: BLE001 - imagededup raises anything on unreadable files
            codes.append(None)
    if cache is not None:
        cache.write_bytes(pickle.dumps(codes))
    return codes


def imagededup_pairs(PHash, codes: list[str | None], threshold: int) -> set[tuple[int, int]]:
    """imagededup's own search (``find_duplicates`` on its encodings) at ``threshold``."""
    import logging

    logging.disable(logging.WARNING)
    enc = {str(i): c for i, c in enumerate(codes) if c}
    dups = PHash(verbose=False).find_duplicates(encoding_map=enc, max_distance_threshold=threshold, scores=False)
    pairs = set()
    for a, bs in dups.items():
        for b in bs:
            x, y = int(a), int(b)
            pairs.add((min(x, y), max(x, y)))
    return pairs


def hamming_pairs(hexes: list[str | None], threshold: int) -> set[tuple[int, int]]:
    codes, valid = hex_to_codes(hexes)
    return {tuple(p) for p in pairs_within(codes, threshold, valid).tolist()}


def fit_threshold(fn, truth, values=range(0, 25)) -> tuple[int, tuple[float, float, float]]:
    return max(((t, score(fn(t), truth)) for t in values), key=lambda x: (x[1][2], -x[0]))


# -- reporting ----------------------------------------------------------------------------------------

def per_kind(ls: LabelledSet, pred: set[tuple[int, int]]) -> dict[str, float]:
    orig = {it.group: i for i, it in enumerate(ls.items) if it.kind == "original"}
    out = {}
    for kind in EDIT_KINDS:
        pairs = [(min(orig[it.group], i), max(orig[it.group], i)) for i, it in enumerate(ls.items)
                 if it.kind == kind and it.group in orig]
        if pairs:
            out[kind] = sum(p in pred for p in pairs) / len(pairs)
    crop = [(min(orig[it.group], i), max(orig[it.group], i)) for i, it in enumerate(ls.items)
            if it.kind in CROP_KINDS and it.group in orig]
    if crop:
        out["ALL CROPS"] = sum(p in pred for p in crop) / len(crop)
    low = [(min(orig[it.group], i), max(orig[it.group], i)) for i, it in enumerate(ls.items)
           if it.kind != "original" and it.lowtex and it.group in orig]
    if low:
        out["low-texture"] = sum(p in pred for p in low) / len(low)
    return out


def false_kinds(ls: LabelledSet, pred: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a, b in pred - truth:
        ia, ib = ls.items[a], ls.items[b]
        kinds = {ia.kind, ib.kind}
        key = next((k for k in ("burst", "burst-untimed", "tile", "hdr") if k in kinds), None)
        if key is None:
            key = "region" if ia.split == ib.split else "other"
            if ia.lowtex or ib.lowtex:
                key = "low-texture " + key
        out[key] = out.get(key, 0) + 1
    return out


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpu, load {load:.1f}, "
            f"python {platform.python_version()}, numpy {np.__version__}")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- heavy: a duplicate-heavy archive --------------------------------------------------------------------

def _variant(args: tuple) -> tuple[str, str, str, str, int, int]:
    """Hashes + thumbnail of one copy of a source (256 px working size; the finder sees nothing else)."""
    import io
    import random

    from PIL import Image, ImageEnhance

    src_bytes, seed = args
    rng = random.Random(seed)
    img = Image.open(io.BytesIO(src_bytes)).convert("RGB")
    w, h = img.size
    kind = rng.choice(["resize", "recompress", "crop", "crop_asym", "tone", "crop_resize"])
    if kind in ("crop", "crop_resize"):
        c = int(min(w, h) * rng.uniform(0.02, 0.08))
        img = img.crop((c, c, w - c, h - c))
    elif kind == "crop_asym":
        cuts = [int(s * rng.uniform(0.0, 0.08)) for s in (w, h, w, h)]
        img = img.crop((cuts[0], cuts[1], w - cuts[2], h - cuts[3]))
    elif kind == "tone":
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
    f = rng.uniform(0.5, 1.0)
    img = img.resize((max(16, int(img.width * f)), max(16, int(img.height * f))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=rng.randint(40, 92))
    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    p, d, wh = perceptual_hashes(img)
    return p, d, wh, grey_thumb(img.convert("L")), img.width, img.height


def heavy_entries(ls: LabelledSet, n: int, workers: int, seed: int = 11) -> tuple[list[PhotoEntry], list[int]]:
    """``n`` photos: >= 90 % in groups of 20-80 copies of the set's textured sources, the rest one-offs
    (the set's bursts, tiles and other photos). Returns (entries, group label per entry; -1 alone)."""
    import io
    import random

    from PIL import Image

    rng = random.Random(seed)
    sources = [it for it in ls.items if it.kind == "original" and not it.lowtex]
    singles = [it for it in ls.items if it.kind in ("burst", "burst-untimed", "tile", "hdr")]
    blobs = []
    for it in sources:
        with Image.open(it.path) as im:
            im = im.convert("RGB")
            im.thumbnail((360, 360))
            buf = io.BytesIO()
            im.save(buf, "PNG")
            blobs.append(buf.getvalue())
    jobs, labels = [], []
    target = int(n * 0.92)
    g = 0
    while len(jobs) < target:
        size = min(rng.randint(20, 80), target - len(jobs))
        if size < 20:
            break
        src = blobs[g % len(blobs)]
        for _ in range(size):
            jobs.append((src, rng.randint(0, 10**9)))
            labels.append(g % len(blobs))     # a source used twice: one (bigger) group
        g += 1
    with ProcessPoolExecutor(workers) as ex:
        sig = list(ex.map(_variant, jobs, chunksize=32))
    entries = []
    for i, (p, d, w, th, wd, ht) in enumerate(sig):
        entries.append(PhotoEntry(id=i, path=Path(f"/heavy/{i}.jpg"), display=f"{i}.jpg", size=10_000 + i,
                                  mtime_ns=i, format="jpeg", sha256=f"{i:064x}", phash=p, dhash=d, whash=w,
                                  thumb=th, width=wd, height=ht))
    # one-offs: distinct real photos (the set's negatives and the low-texture sources), each once
    others = singles + [it for it in ls.items if it.kind == "original" and it.lowtex]
    k = 0
    while len(entries) < n:
        it = others[k % len(others)]
        k += 1
        with Image.open(it.path) as im:
            im = im.convert("RGB")
            im.thumbnail((256, 256))
            # a different picture each time: one of 16 quarter-windows of it, mirrored every other round
            r, c = divmod(k // len(others) % 16, 4)
            w, h = im.size
            im = im.crop((c * w // 8, r * h // 8, c * w // 8 + w // 2, r * h // 8 + h // 2))
            if (k // len(others)) % 2:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        p, d, w, = perceptual_hashes(im)
        i = len(entries)
        entries.append(PhotoEntry(id=i, path=Path(f"/heavy/{i}.jpg"), display=f"{i}.jpg", size=10_000 + i,
                                  mtime_ns=i, format="jpeg", sha256=f"{i:064x}", phash=p, dhash=d, whash=w,
                                  thumb=grey_thumb(im.convert("L")), width=im.width, height=im.height))
        labels.append(-1 - i)
    return entries, labels


def bench_heavy(ls: LabelledSet, params: DedupParams, workers: int, n: int = 5000, cache: Path | None = None) -> None:
    t = time.perf_counter()
    if cache is not None and cache.exists():
        entries, labels = pickle.loads(cache.read_bytes())
    else:
        entries, labels = heavy_entries(ls, n, workers)
        if cache is not None:
            cache.write_bytes(pickle.dumps((entries, labels)))
    in_groups = sum(lab >= 0 for lab in labels)
    print(f"\n## --heavy: {len(entries):,} photos, {in_groups:,} ({in_groups / len(entries):.0%}) in "
          f"{len({lab for lab in labels if lab >= 0})} groups of 20-80 (built in {time.perf_counter() - t:.0f} s)")
    truth = group_pairs([[i for i, lab in enumerate(labels) if lab == g] for g in {x for x in labels if x >= 0}])
    ticks = []
    # (complete linkage verifies every candidate pair: 272 s for 600 such photos on this machine -- not run)
    for name, p in (("star linkage (default)", params),):
        ticks.clear()
        t, c = time.perf_counter(), time.process_time()
        res = find_duplicates(entries, p, progress=lambda d, tot: ticks.append(d))
        el, cpu = time.perf_counter() - t, time.process_time() - c
        pred = group_pairs([[m.entry.id for m in g.members] for g in res.groups])
        pr, rc, f1 = score(pred, truth)
        s = res.seconds
        print(f"  {name:<24} {el:6.2f} s wall, {cpu:6.2f} s CPU (index {s.get('index', 0):.2f}, verify "
              f"{s.get('verify', 0):.2f}, "
              f"group {s.get('group', 0):.2f} wall); {res.candidate_pairs:,} candidates, {res.verified_pairs:,} "
              f"verified; {len(res.groups)} groups; P {pr:.4f} R {rc:.4f} F1 {f1:.4f}; "
              f"{len(ticks)} progress updates")


# -- scale: the candidate search on a realistic million-photo hash set (dedup_scale.py) ----------------

def _fmt(st: dict[str, float]) -> str:
    return (f"pHash<=11 {st['p<=11']:.5%}, dHash<=11 {st['d<=11']:.4%}, wHash<=11 {st['w<=11']:.3%}, "
            f"sum<=45 {st['sum<=45']:.4%}; 16-bit chunk collisions pHash {st['p chunk x']:.1f}x, "
            f"wHash {st['w chunk x']:.0f}x uniform")


def timed_search(codes: np.ndarray, params: DedupParams, budget: float | None) -> tuple[np.ndarray, dict]:
    """The finder's candidate search (``finder._hash_plans`` / ``_run_plans``: pHash and wHash within
    ``index_bits``, summed distance <= ``threshold``) plus the turned-copy search (canonical pHash within
    ``turned_bits``, timed on the pHash/wHash codes: the set has no thumbnails to turn), on ``codes``
    (n, 3); wall, CPU and peak traced memory."""
    import tracemalloc

    from imgengine.processors.dedup.index import plan_search, run_search

    tracemalloc.start()
    t, c = time.perf_counter(), time.process_time()
    plans = []
    for k in (0, 2):
        others = tuple(codes[:, o] for o in range(3) if o != k)
        plans.append(plan_search(codes[:, k], params.index_bits, budget=budget, others=others,
                                 max_total=params.threshold))
    turned = plan_search(codes[:, 0], params.turned_bits, budget=budget / 4 if budget else None, others=(codes[:, 2],),
                         max_total=params.turned_total)
    t_plan = time.perf_counter() - t
    res = [run_search(p, workers=F._WORKERS) for p in plans]
    t_hash = time.perf_counter() - t
    tres = run_search(turned, workers=F._WORKERS)
    el, cpu = time.perf_counter() - t, time.process_time() - c
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    found = [r.pairs for r in res if len(r.pairs)]
    pairs = np.unique(np.concatenate(found), axis=0) if found else np.zeros((0, 2), np.int64)
    return pairs, {"wall": el, "cpu": cpu, "plan": t_plan, "hash": t_hash, "turned": el - t_hash, "peak": peak,
                   "exact": all(r.exact for r in res), "checked": sum(r.checked for r in res) + tres.checked,
                   "skipped": sum(r.skipped_buckets for r in res), "turned_pairs": len(tres.pairs)}


def bench_scale(sizes: list[int], params: DedupParams, real_copies: np.ndarray | None) -> None:
    import dedup_scale as S

    t = time.perf_counter()
    thumbs, src = S.real_pool()
    real = S.codes_of(thumbs)
    print(f"\n## --scale: {len(thumbs):,} windows of {len(set(src.tolist()))} real photos (corpus + scikit-image), "
          f"pooled in {time.perf_counter() - t:.0f} s")
    a, b = S.unrelated_pairs(src, 200_000)
    print(f"  real, unrelated pairs (different photos):  {_fmt(S.pair_stats(real, a, b))}")
    rng = np.random.default_rng(1)
    syn, grown = S.synthesize(real, src, 200_000, rng)
    a, b = S.unrelated_pairs(grown, 200_000, 2)
    print(f"  synthetic, unrelated pairs:               {_fmt(S.pair_stats(syn, a, b))}")
    pat = S.edit_patterns(thumbs, 20_000, rng)
    d = np.stack([popcount64(pat[:, c]) for c in range(3)], axis=1)
    print("  copies' distance to their original, pHash/dHash/wHash median and 90th percentile: synthetic "
          f"{np.median(d, 0).astype(int).tolist()} / {np.percentile(d, 90, 0).astype(int).tolist()}", end="")
    if real_copies is not None and len(real_copies):
        print(f"; the labelled set's real copies {np.median(real_copies, 0).astype(int).tolist()} / "
              f"{np.percentile(real_copies, 90, 0).astype(int).tolist()}")
    else:
        print()
    budget_per = params.search_budget
    for n in sizes:
        t = time.perf_counter()
        codes, labels = S.build(n, real, src, thumbs)
        built = time.perf_counter() - t
        nd = int((labels[: n - int(n * 0.15)] >= 0).sum())
        orig = labels[n - int(n * 0.15):]
        cp = np.arange(n - int(n * 0.15), n)
        dd = np.stack([popcount64(codes[orig, c] ^ codes[cp, c]) for c in range(3)], axis=1).astype(np.int64)
        want = ((dd[:, 0] <= params.index_bits) | (dd[:, 2] <= params.index_bits)) & (dd.sum(1) <= params.threshold)
        runs = [(f"finder (budget {budget_per}/photo)", max(F.MIN_BUDGET, budget_per * n))]
        if n <= 200_000:
            runs.append(("exhaustive (no budget)", None))
        print(f"  {n:>9,} photos ({nd:,} originals with {len(cp):,} copies; built in {built:.0f} s); "
              f"{want.sum():,} copy pairs meet the candidate rule")
        for name, budget in runs:
            before = rss_mb()
            pairs, r = timed_search(codes, params, budget)
            key = set((pairs[:, 0] * n + pairs[:, 1]).tolist())
            got = np.array([int(min(x, y)) * n + int(max(x, y)) in key
                            for x, y in zip(orig[want], cp[want], strict=True)])
            print(f"    {name:<26} {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU (plan {r['plan']:.1f}, "
                  f"hash search {r['hash'] - r['plan']:.1f}, turned {r['turned']:.1f}); {len(pairs):,} candidate "
                  f"pairs, {r['checked']:,} checked, exact {r['exact']}, {r['skipped']} crowded buckets left out; "
                  f"copy recall {got.mean():.4f}; peak traced {r['peak']:,.0f} MB, RSS {rss_mb():,.0f} MB "
                  f"(was {before:,.0f})")
            del pairs, key


def real_copy_distances(entries: list[PhotoEntry], ls: LabelledSet) -> np.ndarray:
    """(K, 3) pHash/dHash/wHash distances of the labelled set's copies to their originals."""
    orig = {it.group: i for i, it in enumerate(ls.items) if it.kind == "original"}
    codes = np.stack([hex_to_codes([getattr(e, a) for e in entries])[0] for a in ("phash", "dhash", "whash")], 1)
    pairs = np.array([(orig[it.group], i) for i, it in enumerate(ls.items)
                      if it.kind in EDIT_KINDS and it.kind not in ("turned", "mirrored") and it.group in orig])
    if len(pairs) == 0:
        return np.zeros((0, 3), np.int64)
    return np.stack([popcount64(codes[pairs[:, 0], c] ^ codes[pairs[:, 1], c]) for c in range(3)], 1)


# -- main -----------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", type=int, default=24)
    ap.add_argument("--corpus", type=int, default=10_000, help="at most this many corpus sources")
    ap.add_argument("--keep", type=Path, help="build the set in this folder and keep it (reused next time)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0, help="seed of the tuning / held-out split")
    ap.add_argument("--heavy", action="store_true")
    ap.add_argument("--heavy-size", type=int, default=5000)
    ap.add_argument("--scale", default="", help="e.g. 100000,1000000")
    ap.add_argument("--no-scores", action="store_true", help="skip the fit and the held-out scores (timings only, "
                    "with the shipped defaults)")
    args = ap.parse_args()
    register_heif()
    print(f"# dedup benchmark -- {machine()}")
    tmp = None
    if args.keep:
        dest = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="dedup-bench-")
        dest = Path(tmp.name)
    t = time.perf_counter()
    ls = load_manifest(dest / "manifest.json") if args.keep else None
    if ls is None:
        ls = build_set(dest, args.generated, args.corpus, workers=args.workers)
        save_manifest(ls, dest / "manifest.json")
    kinds: dict[str, int] = {}
    for it in ls.items:
        kinds[it.kind] = kinds.get(it.kind, 0) + 1
    print(f"set: {len(ls.items)} files from {kinds.get('original', 0)} sources "
          f"({sum(it.lowtex for it in ls.items if it.kind == 'original')} low-texture), ready in "
          f"{time.perf_counter() - t:.0f} s; " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    entries, rate = signals(ls, args.workers, dest / "signals.pkl" if args.keep else None)
    print(f"hashing (read + decode + sha256 + 3 hashes + thumbnail): {rate:.1f} files/s on {args.workers} workers")

    if args.no_scores:
        timings(args, ls, entries, DedupParams(use_clip=False))
        return
    tune_ls, held_ls = ls.split(args.seed)
    tune, _ = subset(entries, ls, tune_ls)
    held, _ = subset(entries, ls, held_ls)
    t_truth, h_truth = tune_ls.pairs_truth(), held_ls.pairs_truth()
    print(f"split by source photo: tuning {len(tune)} files / {len(t_truth)} duplicate pairs, held-out "
          f"{len(held)} files / {len(h_truth)} pairs (no photo in both)")

    t = time.perf_counter()
    base = DedupParams(use_clip=False)
    fitted, tune_score = fit_ours(tune, t_truth, base)
    print(f"\n## fitted on the tuning half ({time.perf_counter() - t:.0f} s): max_residual {fitted.max_residual}, "
          f"low_texture {fitted.low_texture}, low_texture_residual {fitted.low_texture_residual}, "
          f"turned_residual {fitted.turned_residual} "
          f"(tuning P {tune_score[0]:.4f} R {tune_score[1]:.4f} F1 {tune_score[2]:.4f}); shipped defaults: "
          f"max_residual {base.max_residual}, low_texture {base.low_texture}, "
          f"low_texture_residual {base.low_texture_residual}, turned_residual {base.turned_residual}")

    rows = []
    pred, secs = ours(held, fitted)
    rows.append(("imgengine, fitted on the tuning half", pred, secs))
    pred_d, secs = ours(held, base)
    rows.append(("imgengine, shipped defaults", pred_d, secs))
    PHash = load_imagededup()
    if PHash is not None:
        codes = imagededup_codes(ls, PHash, dest / "imagededup.pkl" if args.keep else None)
        index = {id(it): i for i, it in enumerate(ls.items)}
        t_codes = [codes[index[id(it)]] for it in tune_ls.items]
        h_codes = [codes[index[id(it)]] for it in held_ls.items]
        th, _ = fit_threshold(lambda x: imagededup_pairs(PHash, t_codes, x), t_truth)
        t = time.perf_counter()
        rows.append(("imagededup PHash, default threshold 10", imagededup_pairs(PHash, h_codes, 10),
                     time.perf_counter() - t))
        rows.append((f"imagededup PHash, best threshold on tuning ({th})", imagededup_pairs(PHash, h_codes, th), 0.0))
    else:
        print("imagededup is not installed here (pip install --no-deps imagededup scikit-learn): not compared")
    th, _ = fit_threshold(lambda x: hamming_pairs([e.phash for e in tune], x), t_truth)
    rows.append((f"plain pHash (upright), best threshold on tuning ({th})",
                 hamming_pairs([e.phash for e in held], th), 0.0))

    print(f"\n## held-out half: pairwise scores (targets: precision >= {TARGET_PRECISION}, F1 >= 0.98, "
          "crop recall >= 0.97)")
    print(f"  {'method':<52} {'precision':>9} {'recall':>7} {'F1':>6} {'s':>6}  false pairs by kind")
    for name, p, s in rows:
        pr, rc, f1 = score(p, h_truth)
        print(f"  {name:<52} {pr:9.4f} {rc:7.4f} {f1:6.4f} {s:6.2f}  {false_kinds(held_ls, p, h_truth)}")
    print("\n## held-out half: recall per kind of copy (original -> copy pairs)")
    short = ["ours-fit", "ours-dflt", "idd-10", "idd-best", "pHash"][: len(rows)] if PHash else \
        ["ours-fit", "ours-dflt", "pHash"]
    print("  " + f"{'kind':<14}" + "".join(f"{n:>11}" for n in short))
    per = [per_kind(held_ls, p) for _, p, _ in rows]
    for kind in (*EDIT_KINDS, "ALL CROPS", "low-texture"):
        print("  " + f"{kind:<14}" + "".join(f"{d.get(kind, float('nan')):11.3f}" for d in per))

    # star linkage (the default: each member verified against the keeper) against complete linkage
    star, t_star = ours(held, fitted)
    comp, t_comp = ours(held, replace(fitted, linkage="complete"))
    print("\n## linkage on the held-out half (same fitted limits)")
    for name, p, s in (("star (default)", star, t_star), ("complete (every pair)", comp, t_comp)):
        pr, rc, f1 = score(p, h_truth)
        print(f"  {name:<22} P {pr:.4f} R {rc:.4f} F1 {f1:.4f}  {s:5.2f} s")
    print(f"  {len(star ^ comp)} pairs differ: {len((star - comp) & h_truth)} true pairs only star finds, "
          f"{len((star - comp) - h_truth)} false pairs only star makes, {len((comp - star) & h_truth)} true pairs "
          f"only complete finds")

    timings(args, ls, entries, fitted)
    if tmp is not None:
        tmp.cleanup()


def timings(args, ls: LabelledSet, entries: list[PhotoEntry], params: DedupParams) -> None:
    if args.heavy:
        bench_heavy(ls, params, args.workers, args.heavy_size,
                    args.keep / f"heavy{args.heavy_size}.pkl" if args.keep else None)
    if args.scale:
        sizes = [int(s) for s in args.scale.split(",") if s]
        bench_scale(sizes, params, real_copy_distances(entries, ls))


if __name__ == "__main__":
    main()
