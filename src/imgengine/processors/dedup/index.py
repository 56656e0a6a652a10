"""Multi-index hashing (Norouzi et al.) for 64-bit hashes: every pair within a Hamming distance, without
comparing all pairs -- exhaustively up to a budget of pair checks, best value per check beyond it.

A 64-bit code is cut into four 16-bit chunks. If two codes differ in at most ``d`` bits, some chunk differs
in at most ``r = ceil((d - 3) / 4)`` bits (pigeonhole), so probing, for every code and every chunk, the
buckets of all chunk values within ``r`` bits of its own finds every such pair; the full 64-bit distance
(and, with ``others``/``max_total``, the summed distance over more hashes) then filters the candidates
while searching. Everything is vectorised in numpy: one pass per (chunk, flip mask), each pair generated
from one side only (the lower bucket); the four chunks run on two threads.

Cost: a pass of mask m costs ``sum_v count[v] * count[v ^ m] / 2`` pair checks (``M(r)`` masks: M(0)=1,
M(1)=17, M(2)=137). Uniform codes make that ~0.4 % of all pairs at r=2 -- but real photos' hashes are
neither uniform nor independent: 16-bit chunks of wHash collide ~470x as often as uniform ones (a bright
sky fills the top rows of half the photos), pHash's ~2.6x, so the exhaustive search grows quadratically
with a large constant (100k real-like photos: 8e8 checks; 1M: ~1e11). ``plan_search`` therefore takes a
``budget``: when the exhaustive plan fits, it is used (the result says ``exact``); otherwise probes are
taken best value first -- a probe of a crowded bucket, or with a far mask, costs many checks per pair it
can find -- and the plan says it is not exact (``benchmarks/dedup_bench.py --scale`` measures the recall
of real-edit copies that this keeps: 0.93 at 1M photos with the finder's default budget).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

CHUNKS = 4
CHUNK_BITS = 16
_MAX_BLOCK = 4_000_000    # candidate pairs materialised at once (per thread)


def popcount64(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    b = x.view(np.uint8).reshape(*x.shape, 8)  # pragma: no cover - numpy < 2
    return _BYTE_POP[b].sum(axis=-1)           # pragma: no cover


_BYTE_POP = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)
_ALL16 = np.arange(1 << CHUNK_BITS, dtype=np.uint64)
_POP16 = popcount64(_ALL16)


def chunk_radius(max_dist: int) -> int:
    return max(0, -(-(max_dist - (CHUNKS - 1)) // CHUNKS))


def hex_to_codes(values: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint64, valid bool) from 16-hex-digit strings (None or malformed -> invalid)."""
    codes = np.zeros(len(values), dtype=np.uint64)
    valid = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v and len(v) == 16:
            try:
                codes[i] = int(v, 16)
                valid[i] = True
            except ValueError:
                pass
    return codes, valid


def pairs_within(codes: np.ndarray, max_dist: int, valid: np.ndarray | None = None) -> np.ndarray:
    """All index pairs (i < j) whose codes differ in at most ``max_dist`` bits, as an (n, 2) int64 array
    (exact: no budget)."""
    return search(codes, max_dist, valid).pairs


@dataclass
class SearchResult:
    pairs: np.ndarray           # (n, 2) int64, i < j
    exact: bool                 # every pair within max_dist was searched for (no probe or bucket left out)
    checked: int                # pair distances computed
    skipped_buckets: int = 0    # crowded chunk values left out (``cap``)
    masks: list[int] = field(default_factory=list)   # flip masks probed per chunk


_MR = np.array([1, 16, 120, 560, 1820], np.float64)     # masks of exactly r bits in a 16-bit chunk


def _cost_curve(counts: np.ndarray, radius: int, taus: np.ndarray) -> tuple[np.ndarray, float]:
    """For one chunk: (pair checks when probing with threshold ``taus[k]``, for every k; the exhaustive
    cost). Probes are valued as in ``_plan``: mask m of r bits probes a bucket pair when both buckets hold at
    most ``tau / M(r)`` photos."""
    masks = _ALL16[_POP16 <= radius]
    c = counts.astype(np.float64)
    per_tau = np.zeros(len(taus) + 1)
    full = 0.0
    for m in masks.tolist():
        r = int(_POP16[m])
        other = c[_ALL16 ^ np.uint64(m)]
        prod = c * (c - 1) / 2 if m == 0 else c * other / 2
        full += float(prod.sum())
        nz = prod > 0
        need = np.maximum(c, other)[nz] * _MR[r]
        per_tau += np.bincount(np.searchsorted(taus, need), weights=prod[nz], minlength=len(taus) + 1)
    return np.cumsum(per_tau)[: len(taus)], full


def _plan(all_counts: list[np.ndarray], radius: int, budget: float) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """Which flip masks to probe for each chunk and, per mask, the largest bucket it probes, so that the
    pair checks of all chunks together stay within ``budget``: per chunk (masks, caps (0 = no cap), exact).
    Everything when it fits.

    Otherwise crowded chunk values -- one that thousands of photos share (a bright-sky row of wHash) says
    little about any of them -- are left out, the most crowded first, and far probes before near ones: a
    probe of bucket v with mask m costs ``count[v] * count[v ^ m]`` checks and finds the pairs whose chunk
    differs by exactly m -- each of the ``M(r)`` masks of radius r gets an equal share of that radius'
    pairs -- so it is worth ``1 / (M(r) * count[v ^ m])`` per check, and the probes are taken best first,
    over all chunks at once: mask m probes the buckets (both sides) of at most ``tau / M(r)`` photos, with
    ``tau`` as large as the budget allows. A pair whose close chunk is crowded is still found through its
    other chunks when one of them is close and uncrowded, and by the other hash."""
    masks = _ALL16[_POP16 <= radius]
    top = max(2.0, max(float(c.max()) for c in all_counts)) * _MR[radius]
    taus = np.geomspace(1, top, 96)
    curves = [_cost_curve(c, radius, taus) for c in all_counts]
    pops = _POP16[masks].astype(np.int64)
    masks = masks.astype(np.int64)
    if sum(full for _, full in curves) <= budget:
        return [(masks, np.zeros(len(masks), np.int64), True) for _ in all_counts]
    total = sum(curve for curve, _ in curves)
    k = max(0, int(np.searchsorted(total, budget, side="right")) - 1)
    caps = np.floor(taus[k] / _MR[pops]).astype(np.int64)
    keep = caps >= 1
    out = []
    for curve, full in curves:
        if curve[k] >= full:        # nothing of this chunk left out: probe it all
            out.append((masks, np.zeros(len(masks), np.int64), True))
        else:
            out.append((masks[keep], caps[keep], False))
    return out


@dataclass
class SearchPlan:
    """What ``run_search`` will do: per chunk (values, bucket counts, flip masks, bucket cap, exact)."""
    n: int
    ids: np.ndarray
    sub: np.ndarray
    others: list[np.ndarray]
    max_dist: int
    max_total: int | None
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]]

    @property
    def passes(self) -> int:
        return sum(len(c[2]) for c in self.chunks)

    @property
    def exact(self) -> bool:
        return all(c[4] for c in self.chunks)


def plan_search(codes: np.ndarray, max_dist: int, valid: np.ndarray | None = None, *, budget: float | None = None,
                others: tuple[np.ndarray, ...] = (), max_total: int | None = None) -> SearchPlan:
    """Plan a search for index pairs (i < j) whose codes differ in at most ``max_dist`` bits and, with
    ``others`` (more codes per item) and ``max_total``, whose distances summed over ``codes`` and ``others``
    are at most ``max_total`` (applied while searching: pairs that fail it are never held in memory).

    ``budget`` (pair checks; None = unlimited) bounds the work: within it the search is exact; beyond it
    (hundreds of thousands of photos with real, clustered hashes) ``_plan`` decides what to leave out, and
    the plan says so (``exact``)."""
    codes = np.asarray(codes, dtype=np.uint64)
    n = len(codes)
    ids = np.arange(n, dtype=np.int64) if valid is None else np.nonzero(valid)[0].astype(np.int64)
    sub = codes[ids]
    radius = chunk_radius(max_dist)
    values, counts = [], []
    for c in range(CHUNKS if len(ids) > 1 else 0):
        ch = ((sub >> np.uint64(CHUNK_BITS * c)) & np.uint64(0xFFFF)).astype(np.int64)
        values.append(ch)
        counts.append(np.bincount(ch, minlength=1 << CHUNK_BITS))
    if budget is None:
        masks = _ALL16[_POP16 <= radius].astype(np.int64)
        plans = [(masks, np.zeros(len(masks), np.int64), True) for _ in values]
    else:
        plans = _plan(counts, radius, budget) if values else []
    chunks = [(ch, cnt, m, caps, exact) for ch, cnt, (m, caps, exact) in zip(values, counts, plans, strict=True)]
    return SearchPlan(n, ids, sub, [np.asarray(o, np.uint64)[ids] for o in others], max_dist, max_total, chunks)


def search(codes: np.ndarray, max_dist: int, valid: np.ndarray | None = None, *, budget: float | None = None,
           others: tuple[np.ndarray, ...] = (), max_total: int | None = None,
           progress: Callable[[int], None] | None = None, workers: int = 1) -> SearchResult:
    """``plan_search`` then ``run_search``."""
    return run_search(plan_search(codes, max_dist, valid, budget=budget, others=others, max_total=max_total),
                      progress, workers)


def run_search(plan: SearchPlan, progress: Callable[[int], None] | None = None, workers: int = 1) -> SearchResult:
    """Carry out a plan. ``progress(k)`` hears each of its ``plan.passes`` passes as it ends; ``workers``
    threads share the chunks (numpy releases the GIL in the heavy parts)."""
    n, sub, subo, max_dist, max_total = plan.n, plan.sub, plan.others, plan.max_dist, plan.max_total
    if not plan.chunks:
        return SearchResult(np.zeros((0, 2), dtype=np.int64), True, 0)
    lock = threading.Lock()

    def tick() -> None:
        if progress is not None:
            with lock:
                progress(1)

    def run_chunk(chunk) -> tuple[list[np.ndarray], int]:
        ch, counts, masks, caps, _ = chunk
        order = np.argsort(ch, kind="stable")
        by_bucket = sub[order]                      # codes in bucket order: a bucket is a contiguous run
        rank = np.empty(len(ch), np.int64)
        rank[order] = np.arange(len(ch))
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        here = counts[ch]
        found: list[np.ndarray] = []
        checked = 0
        for m, cap in zip(masks.tolist(), caps.tolist(), strict=True):
            keys = ch ^ m
            there = counts[keys]
            if m == 0:
                ok = there > 1
            else:
                # a pair (i, j) with ch_j = ch_i ^ m is met from both sides; take it from the lower bucket only
                ok = (keys > ch) & (there > 0)
            if cap:
                ok &= (here <= cap) & (there <= cap)
            sel = np.nonzero(ok)[0]
            if sel.size:
                cnt = there[sel]
                step = max(1, int(sel.size * _MAX_BLOCK // max(1, int(cnt.sum()))))
                for lo in range(0, sel.size, step):
                    s = sel[lo: lo + step]
                    c_sel = cnt[lo: lo + step]
                    ends = np.cumsum(c_sel)
                    tot = int(ends[-1])
                    # the positions (in bucket order) of every item of the probed bucket, per item of s
                    offs = np.repeat(starts[keys[s]] - (ends - c_sel), c_sel) + np.arange(tot)
                    d = popcount64(np.repeat(sub[s], c_sel) ^ by_bucket[offs])
                    keep = d <= max_dist
                    if m == 0:
                        keep &= offs > np.repeat(rank[s], c_sel)    # each pair once, never an item with itself
                        checked += (tot - len(s)) // 2
                    else:
                        checked += tot
                    idx = np.nonzero(keep)[0]
                    if idx.size == 0:
                        continue
                    ii = s[np.searchsorted(ends, idx, side="right")]
                    jj = order[offs[idx]]
                    if max_total is not None:
                        t = d[idx].astype(np.int64)
                        for o in subo:
                            t += popcount64(o[ii] ^ o[jj])
                        keep = t <= max_total
                        ii, jj = ii[keep], jj[keep]
                    if len(ii):
                        found.append(np.minimum(ii, jj) * n + np.maximum(ii, jj))
            tick()
        return found, checked

    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(run_chunk, plan.chunks))
    else:
        results = [run_chunk(c) for c in plan.chunks]
    found = [f for r in results for f in r[0]]
    checked = sum(r[1] for r in results)
    # crowded chunk values left out of the in-register probe
    skipped = sum(int((c[1] > c[3][0]).sum()) if len(c[3]) and c[3][0] else 0 for c in plan.chunks)
    masks = [len(c[2]) for c in plan.chunks]
    if not found:
        return SearchResult(np.zeros((0, 2), dtype=np.int64), plan.exact, checked, skipped, masks)
    keys = np.unique(np.concatenate(found))
    i, j = keys // n, keys % n
    return SearchResult(np.stack([plan.ids[i], plan.ids[j]], axis=1), plan.exact, checked, skipped, masks)
