"""What the duplicate finder works on and what it returns: plain dataclasses, JSON-ready via to_dict()."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...analyzers.hashes import decode_thumb
from ...metadata.values import camera_name


@dataclass
class PhotoEntry:
    """One catalogued file with the signals and the facts keeper choice needs."""

    id: int
    path: Path
    display: str
    size: int
    mtime_ns: int
    format: str | None
    sha256: str | None
    phash: str | None = None
    dhash: str | None = None
    whash: str | None = None
    thumb: str | None = None
    width: int | None = None
    height: int | None = None
    date: str | None = None            # capture date (EXIF DateTimeOriginal), ISO
    has_gps: bool = False
    camera: str | None = None
    keywords: tuple[str, ...] = ()
    quality: float | None = None
    embedding: np.ndarray | None = None

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> PhotoEntry:
        res = rec.get("results") or {}
        h = res.get("hashes") or {}
        m = res.get("metadata") or {}
        c = res.get("content") or {}
        clip = res.get("clip") or {}
        width = h.get("width") or m.get("upright_width")
        height = h.get("height") or m.get("upright_height")
        camera = camera_name(m.get("make"), m.get("model"))
        return cls(
            id=rec["id"], path=Path(rec["path"]), display=rec.get("display_path") or str(rec["path"]),
            size=rec["size"], mtime_ns=rec["mtime_ns"], format=rec.get("format"),
            sha256=rec.get("sha256") or h.get("sha256"),
            phash=h.get("phash"), dhash=h.get("dhash"), whash=h.get("whash"), thumb=h.get("thumb"),
            width=width, height=height,
            date=m.get("datetime_original") or m.get("create_date"),
            has_gps=m.get("gps_latitude") is not None and m.get("gps_longitude") is not None,
            camera=camera, keywords=tuple(m.get("keywords") or ()),
            quality=c.get("quality_score"),
            embedding=decode_embedding(clip["embedding"]) if isinstance(clip.get("embedding"), str) else None,
        )

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    def thumb_array(self) -> np.ndarray | None:
        try:
            return decode_thumb(self.thumb) if self.thumb else None
        except (ValueError, TypeError):
            return None


def decode_embedding(text: str) -> np.ndarray | None:
    """The vision stage's storage of a CLIP embedding: base64 of little-endian float16, unit length."""
    try:
        v = np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)
    except (ValueError, TypeError):
        return None
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None


@dataclass
class Member:
    entry: PhotoEntry
    keeper: bool
    exact_of_keeper: bool             # same sha256 as the keeper
    residual: float | None            # verification residual to the keeper (None for exact copies)
    hash_distance: int | None         # pHash+dHash+wHash bits to the keeper
    clip_similarity: float | None = None
    turned: str | None = None         # a copy saved turned or mirrored: how it differs from the keeper


@dataclass
class DuplicateGroup:
    id: int
    kind: str                          # "exact" (all the same bytes) or "near"
    members: list[Member]              # keeper first
    reasons: list[str]
    bytes_freed: int

    @property
    def keeper(self) -> PhotoEntry:
        return self.members[0].entry

    @property
    def duplicates(self) -> list[Member]:
        return self.members[1:]

    def to_dict(self) -> dict[str, Any]:
        def photo(m: Member) -> dict[str, Any]:
            e = m.entry
            return {
                "path": e.display, "size": e.size, "format": e.format, "sha256": e.sha256,
                "width": e.width, "height": e.height, "date": e.date, "gps": e.has_gps, "camera": e.camera,
                "quality": e.quality, "keeper": m.keeper, "exact": m.exact_of_keeper,
                "residual": None if m.residual is None else round(m.residual, 4),
                "hash_distance": m.hash_distance,
                "clip_similarity": None if m.clip_similarity is None else round(m.clip_similarity, 4),
                "turned": m.turned,
            }
        return {"id": self.id, "kind": self.kind, "keeper": self.keeper.display, "reasons": self.reasons,
                "bytes_freed": self.bytes_freed, "photos": [photo(m) for m in self.members]}


@dataclass
class FindResult:
    groups: list[DuplicateGroup]
    photos_considered: int
    without_hashes: int
    candidate_pairs: int
    verified_pairs: int
    clip_used: bool
    seconds: dict[str, float] = field(default_factory=dict)
    search_exact: bool = True          # False: the archive was too big for an exhaustive hash search (see index.py)

    @property
    def bytes_freed(self) -> int:
        return sum(g.bytes_freed for g in self.groups)

    def summary(self) -> dict[str, Any]:
        return {
            "photos": self.photos_considered, "groups": len(self.groups),
            "exact_groups": sum(g.kind == "exact" for g in self.groups),
            "near_groups": sum(g.kind == "near" for g in self.groups),
            "duplicates": sum(len(g.members) - 1 for g in self.groups),
            "bytes_freed": self.bytes_freed, "without_hashes": self.without_hashes,
            "candidate_pairs": self.candidate_pairs, "verified_pairs": self.verified_pairs,
            "clip_used": self.clip_used, "search_exact": self.search_exact,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
