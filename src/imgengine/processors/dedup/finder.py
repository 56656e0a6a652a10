"""Find exact and near-duplicate groups among catalogued photos.

1. Exact: files with the same sha256 form a group for free; each set of identical files is then one node.
2. Candidates: pairs whose pHash or wHash differ in at most ``index_bits`` (11) bits, found with
   multi-index hashing (``index.py``) -- never all pairs. A pair whose three distances (pHash + dHash +
   wHash) sum to at most ``threshold`` (45 of 192 bits) goes on to verification, so no single hash
   decides. A crop often sums to ~40 but keeps its wHash close, which is how it is found. The search
   is exhaustive up to ``search_budget`` pair checks per photo (or 1e9: ~100k photos); beyond, it
   spends that budget where it finds most (``index.plan_search``) and the result says it was not exact.
   Copies saved *turned* (pixels rotated by 90/180/270 degrees, no EXIF tag) or mirrored share no
   hash bits with their original: every thumbnail is also brought to its canonical orientation
   (``thumbhash``), and pairs whose canonical pHash (and wHash) are close are verified with one
   thumbnail turned onto the other.
3. Verification (``verify.py``, ``align.py``), batched over thousands of pairs at once: the two 32x32
   thumbnails are aligned by a search over crop/zoom windows (scale and offset per axis, both
   directions, partial overlap allowed), tone-matched, and the residual must be at most
   ``max_residual``; pairs just above it get a second look (coordinate descent over nearby windows,
   then an ECC affine fit). A pair in which either thumbnail is low-texture (a sky, a wall: little
   detail, so any window of it fits another) needs the smaller ``low_texture_residual``. Capture
   times (when both are known) must not say "burst" (equal, or a minute or more apart); two photos of
   the same pixel size whose best alignment is a camera shift are burst frames (``camera_shift``).
   When CLIP embeddings are in the catalog they veto pairs that look different to CLIP, and find
   pairs that the hashes missed (then the thumbnails must still agree, a little more loosely).
4. Grouping, by default *star linkage around the keeper*: the best photo not yet grouped (keeper order:
   resolution, metadata, format, ...) is verified against its candidates not yet grouped; those that
   pass form its group. Every member is verified against the keeper itself, so A~B and B~C never
   bring a different C into A's group, and a group of n copies costs n - 1 checks, not n(n-1)/2.
   Complete linkage (every pair of a group verified: ``linkage="complete"``) splits two different
   crops of one photo, which are not windows of each other, and is quadratic in the group size.
   A photo left out whose hashes are close to a member but not to the keeper gets a second look
   against the keeper.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...progress import steps_of
from . import thumbhash
from .index import hex_to_codes, plan_search, popcount64, run_search
from .keeper import choose_keeper, rank_key
from .model import DuplicateGroup, FindResult, Member, PhotoEntry
from .params import DedupParams
from .verify import camera_shift, prepare, verify_pairs


@dataclass
class _Node:
    files: list[PhotoEntry]            # identical bytes
    rep: PhotoEntry


@dataclass
class _Edge:
    residual: float
    hash_distance: int | None
    clip: float | None
    turn: int = 0                      # the first photo is turned/mirrored by this (``thumbhash``) onto the second


def find_duplicates(entries: Iterable[PhotoEntry], params: DedupParams | None = None,
                    scope: set[int] | None = None, progress: Any = None) -> FindResult:
    """Groups among ``entries``; with ``scope`` (photo ids), only groups that touch one of them.
    ``progress``: a step reporter (``imgengine.progress.StepProgress``) that hears the comparison of candidate
    pairs, or a plain ``progress(done, total)`` callable (called as batches of pairs are verified)."""
    params = params or DedupParams()
    steps = steps_of(progress)
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
    search_exact = True
    if not params.exact_only and len(nodes) > 1:
        t = time.perf_counter()
        raw = _thumb_stack(nodes, steps)
        cand, dist, turn, search_exact = _candidates(nodes, raw, params, steps)
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
                turn = np.concatenate([turn, np.zeros(len(add), np.int64)])
                candidates = len(cand)
        t = time.perf_counter()
        steps.step_start("comparing", len(cand), "pairs")
        seen = [0]

        def advance(done: int, total: int) -> None:
            steps.step_advance("comparing", done - seen[0])
            seen[0] = done
            if callable(progress) and not hasattr(progress, "step_start"):
                progress(done, total)

        edges, decided = _verify(nodes, cand, dist, embs, params, advance, turn, raw)
        if seen[0] < len(cand):
            steps.step_advance("comparing", len(cand) - seen[0])
        steps.step_done("comparing")
        seconds["verify"] = time.perf_counter() - t
    else:
        decided = []
    t = time.perf_counter()
    clusters = _complete_linkage(len(nodes), edges, decided)
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
    return FindResult(groups, len(entries), without, candidates, len(edges), clip_used, seconds, search_exact)


_BATCH = 4096


class _Checker:
    """Verifies batches of node pairs: the CLIP veto, capture-time bursts, the thumbnail residual (with
    the texture rule) and the equal-size burst rule. Everything per pair is vectorised except the
    ECC burst check, which only pairs of equal pixel size that passed get."""

    def __init__(self, nodes: list[_Node], embs: list[np.ndarray | None] | None, params: DedupParams,
                 raw: tuple | None = None):
        self.nodes = nodes
        self.params = params
        self.thumbs = _prepared(nodes, raw)
        self.emb = None
        if embs is not None:
            dim = next(e.shape[0] for e in embs if e is not None)
            self.emb = np.zeros((len(nodes), dim), np.float32)
            self.has_emb = np.array([e is not None for e in embs])
            for i, e in enumerate(embs):
                if e is not None:
                    self.emb[i] = e
        self.times = _capture_times(nodes) if params.burst_seconds > 0 else None
        self.codes = [hex_to_codes([getattr(n.rep, a) for n in nodes])[0] for a in ("phash", "dhash", "whash")]
        self.sizes = np.array([(n.rep.width or 0) * 100_003 + (n.rep.height or 0) if n.rep.width and n.rep.height
                               else -1 - i for i, n in enumerate(nodes)], np.int64)
        self.sizes_t = np.array([(n.rep.height or 0) * 100_003 + (n.rep.width or 0) if n.rep.width and n.rep.height
                                 else -1 - i for i, n in enumerate(nodes)], np.int64)   # turned by 90 degrees

    def hash_distance(self, pairs: np.ndarray) -> np.ndarray:
        return sum(popcount64(c[pairs[:, 0]] ^ c[pairs[:, 1]]).astype(np.int64) for c in self.codes)

    def check(self, pairs: np.ndarray, dist: np.ndarray, turn: np.ndarray | None = None
              ) -> dict[tuple[int, int], _Edge]:
        """Verified edges among ``pairs`` (P, 2); ``dist`` is the summed hash distance, -1 for a pair
        found by CLIP only; ``turn`` how each pair's first photo is turned or mirrored onto the second."""
        params = self.params
        edges: dict[tuple[int, int], _Edge] = {}
        if len(pairs) == 0:
            return edges
        keep = np.ones(len(pairs), bool)
        cos = np.full(len(pairs), np.nan, np.float32)
        if self.emb is not None:
            both = self.has_emb[pairs[:, 0]] & self.has_emb[pairs[:, 1]]
            if both.any():
                c = np.einsum("pd,pd->p", self.emb[pairs[both, 0]], self.emb[pairs[both, 1]])
                cos[both] = c
                keep[both] &= c >= params.clip_veto
        clip_only = dist < 0
        # found by CLIP only: the thumbnails must still agree, a little more loosely
        keep &= ~clip_only | (cos >= params.clip_find)
        if self.times is not None:
            gap = _gaps(self.times, pairs)
            keep &= ~((gap > 0) & (gap < params.burst_seconds))   # different moments of a burst
        idx = np.nonzero(keep)[0]
        if idx.size == 0:
            return edges
        pairs, dist, cos = pairs[idx], dist[idx], cos[idx]
        turn = np.zeros(len(pairs), np.int64) if turn is None else turn[idx]
        res, _warp, tex = verify_pairs(self.thumbs, pairs, good_enough=params.max_residual * 0.6,
                                       undecided=(params.max_residual, params.max_residual * params.refine_band),
                                       turn=turn)
        lim = np.where(dist < 0, params.max_residual * 1.25, params.max_residual).astype(np.float32)
        # a flat area matches everything: low-texture pairs need a smaller residual
        low = tex < params.low_texture
        lim[low] = np.minimum(lim[low], params.low_texture_residual)
        turned = turn != 0
        lim[turned] = np.minimum(lim[turned], params.turned_residual)
        ok = res <= lim
        same = np.where(thumbhash.swaps_sides(turn), self.sizes_t[pairs[:, 0]], self.sizes[pairs[:, 0]]) \
            == self.sizes[pairs[:, 1]]
        for k in np.nonzero(ok)[0].tolist():
            i, j = int(pairs[k, 0]), int(pairs[k, 1])
            if params.burst_shift > 0 and same[k]:
                a = self.thumbs.get(i)
                if a is not None and turn[k]:
                    a = np.ascontiguousarray(thumbhash.transform(a, int(turn[k])))
                moved = camera_shift(a, self.thumbs.get(j))
                if moved is not None and moved[0] > params.burst_shift and res[k] > params.crop_fit * moved[1]:
                    continue  # equal sizes, shifted: a hand-held burst, not a copy (see module doc)
            d = int(dist[k])
            c = float(cos[k])
            edges[(i, j)] = _Edge(float(res[k]), d if d >= 0 else None, None if np.isnan(c) else c, int(turn[k]))
        return edges


def _verify(nodes: list[_Node], cand: np.ndarray, dist: np.ndarray, embs: list[np.ndarray | None] | None,
            params: DedupParams, progress: Callable[[int, int], None] | None = None,
            turn: np.ndarray | None = None, raw: tuple | None = None
            ) -> tuple[dict[tuple[int, int], _Edge], list[list[int]]]:
    """Verified edges, and the groups already decided (star linkage) -- see ``DedupParams.linkage``."""
    checker = _Checker(nodes, embs, params, raw)
    if turn is None:
        turn = np.zeros(len(cand), np.int64)
    edges: dict[tuple[int, int], _Edge] = {}
    total = len(cand)
    if total == 0:
        return edges, []
    if params.linkage == "complete":
        for lo in range(0, total, _BATCH):
            edges.update(checker.check(cand[lo: lo + _BATCH], dist[lo: lo + _BATCH], turn[lo: lo + _BATCH]))
            if progress is not None:
                progress(min(total, lo + _BATCH), total)
        return edges, []
    return edges, _star(nodes, cand, dist, checker, edges, progress, turn)


def _star(nodes: list[_Node], cand: np.ndarray, dist: np.ndarray, checker: _Checker,
          edges: dict[tuple[int, int], _Edge], progress: Callable[[int, int], None] | None,
          turn: np.ndarray) -> list[list[int]]:
    """Star linkage around the future keeper: the best photo not yet grouped (keeper order: resolution,
    metadata, format, ...) is verified against its candidate neighbours not yet grouped, in one batch;
    those that pass are its group. Each member is thus verified against the keeper itself -- never
    grouped through a chain of look-alikes -- and only ~one pair per photo is verified, not all pairs
    of a group (a group of 80 copies: 79 checks instead of 3,160)."""
    n = len(nodes)
    both = np.concatenate([cand, cand[:, ::-1]])
    dd = np.concatenate([dist, dist])
    tt = np.concatenate([turn, turn])      # a pair's turn belongs to its (smaller, larger) order
    order = np.argsort(both[:, 0], kind="stable")
    both, dd, tt = both[order], dd[order], tt[order]
    starts = np.searchsorted(both[:, 0], np.arange(n + 1))
    has = starts[1:] > starts[:-1]
    ranked = sorted(np.nonzero(has)[0].tolist(), key=lambda i: max(rank_key(f) for f in nodes[i].files),
                    reverse=True)
    grouped = np.zeros(n, bool)
    groups: list[list[int]] = []
    done = 0
    total = len(cand)
    for hub in ranked:
        if grouped[hub]:
            continue
        lo, hi = starts[hub], starts[hub + 1]
        nb = both[lo:hi, 1]
        free = ~grouped[nb]
        nb, d, tn = nb[free], dd[lo:hi][free], tt[lo:hi][free]
        if nb.size == 0:
            continue
        pairs = np.stack([np.minimum(nb, hub), np.maximum(nb, hub)], axis=1)
        found = checker.check(pairs, d, tn)
        done += int(nb.size)
        members = [int(x) for x in nb.tolist() if (min(x, hub), max(x, hub)) in found]
        if members:
            edges.update(found)
            grouped[hub] = True
            grouped[members] = True
            groups.append([hub, *members])
        if progress is not None and (len(groups) % 50 == 0 or done >= total):
            progress(min(done, total), total)
    # second look: a photo left alone whose hashes are close to a member (but not to the keeper: a crop
    # of a crop, a screenshot of a resized copy) is verified against that group's keeper itself
    group_of = np.full(n, -1, np.int64)
    for g, members in enumerate(groups):
        group_of[members] = g
    plain = turn == 0       # (a second look goes against the keeper as it stands)
    a, b = cand[plain, 0], cand[plain, 1]
    loose = np.concatenate([np.stack([a, group_of[b]], 1)[(group_of[a] < 0) & (group_of[b] >= 0)],
                            np.stack([b, group_of[a]], 1)[(group_of[b] < 0) & (group_of[a] >= 0)]])
    if len(loose):
        loose = np.unique(loose, axis=0)
        hubs = np.array([groups[g][0] for g in loose[:, 1].tolist()], np.int64)
        pairs = np.stack([np.minimum(loose[:, 0], hubs), np.maximum(loose[:, 0], hubs)], axis=1)
        found = checker.check(pairs, checker.hash_distance(pairs))
        for (u, g), hub in zip(loose.tolist(), hubs.tolist(), strict=True):
            key = (min(u, hub), max(u, hub))
            if key in found and not grouped[u]:
                grouped[u] = True
                groups[g].append(u)
                edges[key] = found[key]
    if progress is not None:
        progress(total, total)
    return groups


class _Thumbs(dict):
    """node -> prepared thumbnail (None when flat or missing), plus the stacked array for batches."""

    stack: np.ndarray
    missing: np.ndarray


def _thumb_stack(nodes: list[_Node], steps: Any = None) -> tuple[np.ndarray, np.ndarray, _Thumbs]:
    """(every node's stored 32x32 thumbnail (N, 32, 32) float32, has one (N,), the prepared thumbnails for
    verification): decoded once, for the turned-copy search and the verification; ``steps`` hears the
    "reading thumbnails" step."""
    steps = steps or steps_of(None)
    n = len(nodes)
    stack = np.zeros((n, 32, 32), np.float32)
    has = np.zeros(n, bool)
    out = _Thumbs()
    out.stack = np.zeros((n, 32, 32), np.float32)
    steps.step_start("reading thumbnails", n, "photos")
    for i, nd in enumerate(nodes):
        arr = nd.rep.thumb_array()
        p = None
        if arr is not None:
            stack[i] = arr
            has[i] = True
            p = prepare(arr)
        out[i] = p
        if p is not None:
            out.stack[i] = p
        if i % 4096 == 4095:
            steps.step_advance("reading thumbnails", 4096)
    steps.step_advance("reading thumbnails", n % 4096)
    steps.step_done("reading thumbnails")
    out.missing = np.array([out[i] is None for i in range(n)], bool)
    return stack, has, out


def _prepared(nodes: list[_Node], raw: tuple[np.ndarray, np.ndarray, _Thumbs] | None = None) -> _Thumbs:
    return (raw if raw is not None else _thumb_stack(nodes))[2]


def _capture_times(nodes: list[_Node]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local clock seconds, absolute seconds, has a UTC offset) per node (NaN where unknown)."""
    n = len(nodes)
    local = np.full(n, np.nan)
    absolute = np.full(n, np.nan)
    aware = np.zeros(n, bool)
    epoch = dt.datetime(1970, 1, 1)
    for i, nd in enumerate(nodes):
        d = nd.rep.date
        if not d:
            continue
        try:
            t = dt.datetime.fromisoformat(d)
        except ValueError:
            continue
        local[i] = (t.replace(tzinfo=None) - epoch).total_seconds()
        if t.tzinfo is not None:
            aware[i] = True
            absolute[i] = t.timestamp()
    return local, absolute, aware


def _gaps(times: tuple[np.ndarray, np.ndarray, np.ndarray], pairs: np.ndarray) -> np.ndarray:
    """``capture_gap`` for many pairs at once (NaN where unknown)."""
    local, absolute, aware = times
    a, b = pairs[:, 0], pairs[:, 1]
    both = aware[a] & aware[b]
    return np.where(both, np.abs(absolute[a] - absolute[b]), np.abs(local[a] - local[b]))


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


def _hash_codes(nodes: list[_Node]) -> tuple[list[np.ndarray], np.ndarray]:
    """(pHash, dHash, wHash codes, usable: all three hashes and a thumbnail)."""
    codes = []
    valid_all = np.array([bool(n.rep.thumb) for n in nodes])
    for attr in ("phash", "dhash", "whash"):
        c, v = hex_to_codes([getattr(n.rep, attr) for n in nodes])
        codes.append(c)
        valid_all &= v
    return codes, valid_all


def _hash_plans(nodes, threshold, index_bits, index_hashes, budget) -> list:
    """Planned searches for pairs (i < j) with one indexed hash within ``index_bits`` and a summed
    pHash+dHash+wHash distance <= threshold (``index.plan_search``), with the codes: [codes, plans]."""
    per_hash = max(0, min(index_bits, threshold))
    codes, valid = _hash_codes(nodes)
    names = ("phash", "dhash", "whash")
    plans = []
    for k, attr in enumerate(names):
        if attr in index_hashes:
            others = tuple(codes[o] for o in range(3) if o != k)
            plans.append(plan_search(codes[k], per_hash, valid, budget=budget, others=others, max_total=threshold))
    return [codes, plans]


def _run_plans(planned: list, steps: Any, extra: list | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    codes, plans = planned
    steps = steps or steps_of(None)
    found = [run_search(p, lambda k: steps.step_advance("searching", k), workers=_WORKERS).pairs for p in plans]
    exact = all(p.exact for p in plans)
    found = [f for f in found if len(f)]
    if not found:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), exact
    pairs = np.unique(np.concatenate(found), axis=0)
    total = sum(popcount64(c[pairs[:, 0]] ^ c[pairs[:, 1]]).astype(np.int64) for c in codes)
    return pairs, total, exact


MIN_BUDGET = 1e9   # pair checks a search may always spend (~10 s of CPU): exhaustive up to ~100k photos
_WORKERS = max(1, min(4, os.cpu_count() or 1))   # threads for the four chunks of a search


def _candidates(nodes: list[_Node], raw: tuple, params: DedupParams, steps: Any
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Every candidate pair: (pairs (P, 2), summed hash distance (P,), turn (P,), search exact). The
    hash search and the turned-copy search are planned first, so the "searching" step knows its size."""
    steps = steps or steps_of(None)
    budget = max(MIN_BUDGET, params.search_budget * len(nodes)) if params.search_budget else None
    planned = _hash_plans(nodes, params.threshold, params.index_bits, params.index_hashes, budget)
    # the turned-copy search is a second, narrower one (7 bits, pHash only): a quarter of the budget
    turned = _turned_plan(nodes, raw, params, budget / 4 if budget else None) if params.turned else None
    passes = sum(p.passes for p in planned[1]) + (turned[0].passes if turned else 0)
    steps.step_start("searching", passes, "passes")
    cand, dist, exact = _run_plans(planned, steps)
    turn = np.zeros(len(cand), np.int64)
    if turned is not None:
        tc, td, tt, t_exact = _run_turned(turned, steps)
        exact &= t_exact
        if len(tc):
            known = set(map(tuple, cand.tolist()))
            new = np.array([tuple(p) not in known for p in tc.tolist()], bool)
            cand = np.concatenate([cand, tc[new]])
            dist = np.concatenate([dist, td[new]])
            turn = np.concatenate([turn, tt[new]])
    steps.step_done("searching")
    return cand, dist, turn, exact


def _turned_plan(nodes: list[_Node], raw: tuple, params: DedupParams, budget):
    """Copies saved turned by 90/180/270 degrees or mirrored: every thumbnail in its canonical orientation
    (``thumbhash``; 1-2 variants each), canonical pHash within ``turned_bits`` and pHash + wHash within
    ``turned_total``."""
    stack, thumbs = raw[0], raw[2]
    idx = np.nonzero(~thumbs.missing)[0]        # flat thumbnails are never near copies (``verify.prepare``)
    node, k, ph, wh = thumbhash.canonical_hashes(stack[idx])
    node = idx[node]
    plan = plan_search(ph, params.turned_bits, budget=budget, others=(wh,), max_total=params.turned_total)
    return plan, node, k, ph, wh


def _run_turned(turned, steps) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    plan, node, k, ph, wh = turned
    res = run_search(plan, lambda n: steps.step_advance("searching", n), workers=_WORKERS)
    u, v = res.pairs[:, 0], res.pairs[:, 1]
    a, b = node[u], node[v]
    rel = thumbhash.relative(k[u], k[v])          # turns a onto b
    keep = (a != b) & (rel != thumbhash.IDENTITY)
    a, b, rel, u, v = a[keep], b[keep], rel[keep], u[keep], v[keep]
    swap = a > b
    rel = np.where(swap, thumbhash.inverse(rel), rel)
    pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
    d = (popcount64(ph[u] ^ ph[v]) + popcount64(wh[u] ^ wh[v])).astype(np.int64)
    if len(pairs):
        # one turn per pair: the closest
        order = np.lexsort((d, pairs[:, 1], pairs[:, 0]))
        pairs, d, rel = pairs[order], d[order], rel[order]
        first = np.ones(len(pairs), bool)
        first[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
        pairs, d, rel = pairs[first], d[first], rel[first]
    return pairs, d, rel.astype(np.int64), res.exact


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


def _complete_linkage(n: int, edges: dict[tuple[int, int], _Edge],
                      decided: list[list[int]] | None = None) -> list[list[int]]:
    """Merge along edges, best first, only when every cross pair is itself an edge. Nodes of
    ``decided`` groups (star linkage) keep those groups."""
    cluster_of = list(range(n))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    fixed: set[int] = set()
    for grp in decided or []:
        head = grp[0]
        for x in grp[1:]:
            cluster_of[x] = head
            members[head].append(x)
            del members[x]
        fixed.update(grp)
    for (i, j), _ in sorted(edges.items(), key=lambda kv: kv[1].residual):
        if i in fixed or j in fixed:
            continue
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
            turned = None
            if e is not None and e.turn:
                # the edge turns its first photo onto its second; say how the member differs from the keeper
                turned = thumbhash.describe(e.turn if kn < n else int(thumbhash.inverse(e.turn)))
            members.append(Member(f, False, False, e.residual if e else None,
                                  e.hash_distance if e else None, e.clip if e else None, turned))
    members[1:] = sorted(members[1:], key=lambda m: (not m.exact_of_keeper, m.residual or 0.0, m.entry.display))
    kind = "exact" if len(node_ids) == 1 else "near"
    if kind == "exact":
        reasons = ["identical bytes (same sha256)"] + [r for r in reasons if "identical" not in r]
    return DuplicateGroup(gid, kind, members, reasons, bytes_freed(keeper, [m.entry for m in members[1:]]))


def bytes_freed(keeper: PhotoEntry, others: list[PhotoEntry]) -> int:
    """Bytes that removing ``others`` frees: files already hard-linked to the keeper (or to each other)
    share their blocks and count once."""
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
