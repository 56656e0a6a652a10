"""Find exact and near-duplicate groups among catalogued photos.

1. Exact: files with the same sha256 form a group for free; each set of identical files is then one node.
2. Candidates: pairs whose pHash or wHash differ in at most ``index_bits`` (11) bits, found with
   multi-index hashing (``index.py``) -- never all pairs. A pair whose three distances (pHash + dHash +
   wHash) sum to at most ``threshold`` (45 of 192 bits) goes on to verification, so no single hash
   decides alone. A 5 % crop often sums to ~40 but keeps its wHash close, which is how it is found.
   (dHash, the weakest under crops, is not indexed: that saves a third of the search time.)
3. Verification (``verify.py``): the aligned residual of the two 32x32 thumbnails must be small, and
   the capture times (when both are known) must not say "burst": equal, or a minute or more apart
   (a copy keeps its time or loses it; burst frames are fractions of a second apart). When CLIP
   embeddings are in the catalog they veto pairs that look different to CLIP, and find pairs that the
   hashes missed (then the thumbnails must still agree, a little more loosely).
   Two photos of exactly the same pixel size whose best alignment is a translation (``camera_shift``
   over ``burst_shift`` of the frame, and no crop box fitting clearly better) are burst frames without
   capture times: a copy of equal size keeps every pixel in place; a hand-held camera does not.
4. Grouping is complete-linkage: two groups merge only if *every* pair across them is a verified
   duplicate, so A~B and B~C never drag a different C into A's group.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .index import hex_to_codes, pairs_within, popcount64
from .keeper import choose_keeper
from .model import DuplicateGroup, FindResult, Member, PhotoEntry
from .params import DedupParams
from .verify import camera_shift, prepare, residual


@dataclass
class _Node:
    files: list[PhotoEntry]            # identical bytes
    rep: PhotoEntry


@dataclass
class _Edge:
    residual: float
    hash_distance: int | None
    clip: float | None


def find_duplicates(entries: Iterable[PhotoEntry], params: DedupParams | None = None,
                    scope: set[int] | None = None) -> FindResult:
    """Groups among ``entries``; with ``scope`` (photo ids), only groups that touch one of them."""
    params = params or DedupParams()
    t0 = time.perf_counter()
    entries = list(entries)
    seconds: dict[str, float] = {}
    by_sha: dict[str, list[PhotoEntry]] = {}
    nodes: list[_Node] = []
    for e in entries:
        if e.sha256:
            by_sha.setdefault(e.sha256, []).append(e)
        else:
            nodes.append(_Node([e], e))
    for files in by_sha.values():
        nodes.append(_Node(files, files[0]))
    without = sum(1 for n in nodes if not (n.rep.phash and n.rep.thumb))
    edges: dict[tuple[int, int], _Edge] = {}
    candidates = 0
    clip_used = False
    if not params.exact_only and len(nodes) > 1:
        t = time.perf_counter()
        cand, dist = _hash_candidates(nodes, params.threshold, params.index_bits, params.index_hashes)
        seconds["index"] = time.perf_counter() - t
        candidates = len(cand)
        embs = _embeddings(nodes) if params.use_clip else None
        clip_used = embs is not None
        if embs is not None and len(nodes) <= params.clip_max_photos:
            t = time.perf_counter()
            extra = _clip_candidates(embs, params.clip_find)
            seconds["clip"] = time.perf_counter() - t
            known = set(map(tuple, cand.tolist()))
            add = [p for p in map(tuple, extra.tolist()) if p not in known]
            if add:
                cand = np.concatenate([cand, np.array(add, dtype=np.int64).reshape(-1, 2)])
                dist = np.concatenate([dist, np.full(len(add), -1, dtype=np.int64)])
                candidates = len(cand)
        t = time.perf_counter()
        prepared: dict[int, np.ndarray | None] = {}

        def prep(i: int) -> np.ndarray | None:
            if i not in prepared:
                arr = nodes[i].rep.thumb_array()
                prepared[i] = prepare(arr) if arr is not None else None
            return prepared[i]

        for (i, j), d in zip(cand.tolist(), dist.tolist(), strict=True):
            cos = None
            if embs is not None and embs[i] is not None and embs[j] is not None:
                cos = float(np.dot(embs[i], embs[j]))
                if cos < params.clip_veto:
                    continue
            if params.burst_seconds > 0:
                gap = capture_gap(nodes[i].rep.date, nodes[j].rep.date)
                if gap is not None and 0 < gap < params.burst_seconds:
                    continue  # different moments of a burst: different photos however alike they look
            limit = params.max_residual
            if d < 0:  # found by CLIP only: the thumbnails must still agree, a little more loosely
                if cos is None or cos < params.clip_find:
                    continue
                limit = params.max_residual * 1.25
            r = residual(prep(i), prep(j), good_enough=limit * 0.25)
            if r <= limit and params.burst_shift > 0 and _same_size(nodes[i].rep, nodes[j].rep):
                moved = camera_shift(prep(i), prep(j))
                if moved is not None and moved[0] > params.burst_shift and r > params.crop_fit * moved[1]:
                    continue  # equal sizes, shifted: a hand-held burst, not a copy (see module doc)
            if r <= limit:
                edges[(i, j)] = _Edge(r, d if d >= 0 else None, cos)
        seconds["verify"] = time.perf_counter() - t
    t = time.perf_counter()
    clusters = _complete_linkage(len(nodes), edges)
    groups: list[DuplicateGroup] = []
    for members in clusters:
        files = [f for n in members for f in nodes[n].files]
        if len(files) < 2:
            continue
        if scope is not None and not any(f.id in scope for f in files):
            continue
        groups.append(_make_group(len(groups) + 1, members, nodes, edges))
    groups.sort(key=lambda g: (-g.bytes_freed, g.keeper.display))
    for k, g in enumerate(groups, 1):
        g.id = k
    seconds["group"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return FindResult(groups, len(entries), without, candidates, len(edges), clip_used, seconds)


def _same_size(a: PhotoEntry, b: PhotoEntry) -> bool:
    return bool(a.width and a.height) and (a.width, a.height) == (b.width, b.height)


def capture_gap(a: str | None, b: str | None) -> float | None:
    """Seconds between two ISO capture times (sub-seconds count), or None when either is unknown.

    A copy keeps its capture time or loses it; frames of a burst carry times a fraction of a second to
    a few seconds apart. Times with and without a UTC offset are compared by their local clock."""
    if not a or not b:
        return None
    try:
        ta, tb = dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)
    except ValueError:
        return None
    if (ta.tzinfo is None) != (tb.tzinfo is None):
        ta, tb = ta.replace(tzinfo=None), tb.replace(tzinfo=None)
    return abs((ta - tb).total_seconds())


def _hash_candidates(nodes: list[_Node], threshold: int, index_bits: int,
                     index_hashes: tuple[str, ...] = ("phash", "whash")) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) with one hash within ``index_bits`` and a summed pHash+dHash+wHash distance
    <= threshold, and that distance."""
    per_hash = max(0, min(index_bits, threshold))
    codes = []
    found = []
    valid_all = None
    for attr in ("phash", "dhash", "whash"):
        c, v = hex_to_codes([getattr(n.rep, attr) for n in nodes])
        codes.append(c)
        valid_all = v if valid_all is None else valid_all & v
    thumbs = np.array([bool(n.rep.thumb) for n in nodes])
    valid_all = valid_all & thumbs
    for attr, c in zip(("phash", "dhash", "whash"), codes, strict=True):
        if attr in index_hashes:
            found.append(pairs_within(c, per_hash, valid_all))
    pairs = np.unique(np.concatenate(found), axis=0) if found else np.zeros((0, 2), np.int64)
    if len(pairs) == 0:
        return pairs.reshape(0, 2), np.zeros(0, np.int64)
    total = sum(popcount64(c[pairs[:, 0]] ^ c[pairs[:, 1]]).astype(np.int64) for c in codes)
    keep = total <= threshold
    return pairs[keep], total[keep]


def _embeddings(nodes: list[_Node]) -> list[np.ndarray | None] | None:
    embs = [n.rep.embedding for n in nodes]
    present = [e for e in embs if e is not None]
    if len(present) < 2:
        return None
    dim = present[0].shape[0]
    return [e if e is not None and e.shape[0] == dim else None for e in embs]


def _clip_candidates(embs: list[np.ndarray | None], min_cos: float, block: int = 4096) -> np.ndarray:
    """Pairs with cosine >= min_cos, by blocked matrix products (quadratic, but BLAS-fast)."""
    ids = np.array([i for i, e in enumerate(embs) if e is not None], dtype=np.int64)
    mat = np.stack([embs[i] for i in ids]).astype(np.float32)
    out = []
    for lo in range(0, len(ids), block):
        sims = mat[lo:lo + block] @ mat.T
        a, b = np.nonzero(sims >= min_cos)
        a = a + lo
        keep = a < b
        if keep.any():
            out.append(np.stack([ids[a[keep]], ids[b[keep]]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def _complete_linkage(n: int, edges: dict[tuple[int, int], _Edge]) -> list[list[int]]:
    """Merge along edges, best first, only when every cross pair is itself an edge."""
    cluster_of = list(range(n))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    for (i, j), _ in sorted(edges.items(), key=lambda kv: kv[1].residual):
        a, b = cluster_of[i], cluster_of[j]
        if a == b:
            continue
        if len(members[a]) * len(members[b]) > 1 and not all(
                (min(x, y), max(x, y)) in edges for x in members[a] for y in members[b]):
            continue
        if len(members[a]) < len(members[b]):
            a, b = b, a
        for x in members[b]:
            cluster_of[x] = a
        members[a].extend(members.pop(b))
    return [sorted(m) for m in members.values()]


def _make_group(gid: int, node_ids: list[int], nodes: list[_Node], edges: dict) -> DuplicateGroup:
    files = [f for n in node_ids for f in nodes[n].files]
    keeper, reasons = choose_keeper(files)
    node_of = {id(f): n for n in node_ids for f in nodes[n].files}
    kn = node_of[id(keeper)]
    members = [Member(keeper, True, True, None, None)]
    for f in files:
        if f is keeper:
            continue
        n = node_of[id(f)]
        if n == kn:
            members.append(Member(f, False, True, None, None))
        else:
            e = edges.get((min(n, kn), max(n, kn)))
            members.append(Member(f, False, False, e.residual if e else None,
                                  e.hash_distance if e else None, e.clip if e else None))
    members[1:] = sorted(members[1:], key=lambda m: (not m.exact_of_keeper, m.residual or 0.0, m.entry.display))
    kind = "exact" if len(node_ids) == 1 else "near"
    if kind == "exact":
        reasons = ["identical bytes (same sha256)"] + [r for r in reasons if "identical" not in r]
    return DuplicateGroup(gid, kind, members, reasons, bytes_freed(keeper, [m.entry for m in members[1:]]))


def bytes_freed(keeper: PhotoEntry, others: list[PhotoEntry]) -> int:
    """Bytes that removing ``others`` frees: files already hard-linked to the keeper (or to each other)
    share their blocks and count once."""
    import os

    seen: set[tuple[int, int]] = set()
    try:
        st = os.stat(keeper.path)
        seen.add((st.st_dev, st.st_ino))
    except OSError:
        pass
    total = 0
    for e in others:
        try:
            st = os.stat(e.path)
        except OSError:
            total += e.size
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += e.size if st.st_nlink <= 1 else 0
    return total
