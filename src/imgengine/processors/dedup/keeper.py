"""Which copy of a group to keep, and why.

First, a clearly better picture wins: when the content analyzer's quality score is known, copies
scoring ``CLEARLY_BETTER`` points (of 100) or more below the best are out (an underexposed or
blurred copy is never kept because it has more bytes per pixel). Among the rest, criteria in order
(the first that separates two copies decides): highest resolution; most metadata (date, GPS, camera,
keywords: exports and messengers strip it, so it marks the camera's file); original format over a
converted one (RAW > HEIC > JPEG/TIFF > AVIF/WebP > PNG > others); least compressed (bytes per pixel,
same format); best quality score; oldest capture date; oldest file; shortest path.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import PhotoEntry

FORMAT_RANK = {"raw": 5, "heic": 4, "heif": 4, "jpeg": 3, "tiff": 3, "avif": 2, "webp": 2, "png": 1}


def metadata_count(e: PhotoEntry) -> int:
    return sum((e.date is not None, e.has_gps, e.camera is not None, bool(e.keywords)))


def _bpp(e: PhotoEntry) -> float:
    return e.size / e.pixels if e.pixels else 0.0


def _metadata_names(e: PhotoEntry) -> str:
    names = [n for n, ok in (("date", e.date), ("GPS", e.has_gps), ("camera", e.camera),
                             ("keywords", e.keywords)) if ok]
    return ", ".join(names) or "none"


# (score: higher is better, reason when it decides)
CRITERIA: list[tuple[str, Callable[[PhotoEntry], object], Callable[[PhotoEntry, PhotoEntry], str]]] = [
    ("resolution", lambda e: e.pixels,
     lambda k, o: f"highest resolution ({k.width}x{k.height} vs {o.width}x{o.height})"),
    ("metadata", metadata_count,
     lambda k, o: f"most metadata ({_metadata_names(k)} vs {_metadata_names(o)})"),
    ("format", lambda e: FORMAT_RANK.get(e.format or "", 0),
     lambda k, o: f"original format ({k.format} over {o.format})"),
    ("compression", lambda e: round(_bpp(e), 3) if (e.format or "") in ("jpeg", "heic", "heif", "webp", "avif")
     else 0.0, lambda k, o: f"least compressed ({_bpp(k):.2f} vs {_bpp(o):.2f} bytes/pixel)"),
    ("quality", lambda e: round(e.quality, 1) if e.quality is not None else -1.0,
     lambda k, o: f"best quality score ({k.quality:.0f} vs {o.quality if o.quality is None else round(o.quality)})"),
    ("capture date", lambda e: _neg_date(e.date),
     lambda k, o: f"oldest capture ({k.date} vs {o.date})"),
    ("file age", lambda e: -e.mtime_ns, lambda k, o: "oldest file"),
    ("path", lambda e: (-len(str(e.path)), _neg_str(str(e.path))), lambda k, o: "shortest path"),
]


def _neg_date(date: str | None) -> tuple:
    # earlier is better; no date is worst
    if not date:
        return (0,)
    return (1, tuple(-ord(ch) for ch in date))


def _neg_str(s: str) -> tuple:
    return tuple(-ord(ch) for ch in s)


def rank_key(e: PhotoEntry) -> tuple:
    return tuple(fn(e) for _, fn, _ in CRITERIA)


CLEARLY_BETTER = 15.0


def choose_keeper(entries: list[PhotoEntry]) -> tuple[PhotoEntry, list[str]]:
    """The best entry and the reasons it beat each of the others (deduplicated, in criteria order)."""
    scored = [e.quality for e in entries if e.quality is not None]
    best_q = max(scored) if scored else None
    outclassed = [e for e in entries if best_q is not None and e.quality is not None
                  and e.quality <= best_q - CLEARLY_BETTER]
    contenders = [e for e in entries if e not in outclassed] or entries
    ordered = sorted(contenders, key=rank_key, reverse=True)
    keeper = ordered[0]
    reasons: dict[int, str] = {}
    if outclassed:
        worst = min(outclassed, key=lambda e: e.quality or 0.0)
        reasons[-1] = (f"clearly better picture (quality score {keeper.quality:.0f} vs {worst.quality:.0f}"
                       + (f", even though {worst.display} has more bytes or pixels"
                          if rank_key(worst) > rank_key(keeper) else "") + ")")
    for other in ordered[1:]:
        for pos, (_, fn, why) in enumerate(CRITERIA):
            if fn(keeper) != fn(other):
                reasons.setdefault(pos, why(keeper, other))
                break
        else:
            reasons.setdefault(len(CRITERIA), "identical by every criterion; first by path")
    return keeper, [reasons[k] for k in sorted(reasons)]
