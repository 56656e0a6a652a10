"""The tuning knobs of duplicate finding, in a module of their own so the CLI can show the defaults
without importing numpy and the finder."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DedupParams:
    threshold: int = 45              # max pHash+dHash+wHash Hamming bits (of 192) for a candidate
    index_bits: int = 11             # a candidate has its pHash or its wHash within this many bits
    index_hashes: tuple[str, ...] = ("phash", "whash")   # indexed; dHash (weakest under crops) only adds up
    max_residual: float = 0.10       # max aligned thumbnail residual (fitted on the benchmark's tuning half)
    exact_only: bool = False
    use_clip: bool = True
    clip_veto: float = 0.88          # with embeddings on both sides, below this cosine a pair is rejected
    clip_find: float = 0.96          # embedding neighbours above this are checked even without a hash match
    clip_max_photos: int = 200_000   # brute-force embedding search is quadratic; skipped above this
    burst_seconds: float = 60.0      # two capture times this close but not equal: burst frames, not copies
    burst_shift: float = 0.008       # equal pixel sizes, shifted by more than this fraction: burst frames
    crop_fit: float = 0.6            # ... unless a crop box fits better than this times the translation
    low_texture: float = 0.5         # a thumbnail with less detail (grey levels, ``align.texture``) is low-texture
    low_texture_residual: float = 0.07    # ... and a pair with one needs this smaller residual
    refine_band: float = 2.0         # residuals up to this times max_residual get the ECC second look
    search_budget: int = 1000        # hash pairs checked per photo and indexed hash before the search leaves
                                     # out crowded buckets and far probes (or 1e9 checks: exact up to ~100k)
    turned: bool = True              # also find copies turned by 90/180/270 degrees or mirrored
    turned_bits: int = 7             # ... whose canonical thumbnail pHash differ in at most this many bits
    turned_total: int = 20           # ... and canonical pHash + wHash in at most this many
    turned_residual: float = 0.04    # a turned/mirrored pair needs this smaller residual (a mirrored neighbour
                                     # region of a symmetric scene is a near fit; fitted on the tuning half)
    linkage: str = "star"            # "star": every member verified against the keeper; "complete": against
                                     # every other member (all candidate pairs verified: slower, splits crops)
