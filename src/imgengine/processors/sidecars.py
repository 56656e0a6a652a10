"""``imgengine export sidecars``: an XMP sidecar beside each photo with what the catalog knows about it,
for people who keep their photos untouched and let Lightroom or digiKam read the sidecars.

Each sidecar is made by the tagger's own writer (``exiv2_backend.new_sidecar`` with one ``TagEdit``),
starting from the photo's embedded XMP so that it never hides a value the photo already carries, and holds:
keywords (the photo's own, flat, plus the analysis as a hierarchy: ``Scenes|beach``, ``Objects|dog``,
``Quality|good``, ``People|Anna``, ``Places|France|Île-de-France|Paris``), rating, colour label, title,
description, GPS, the capture date, and the faces as MWG regions (named when the person is known).

Naming: ``lightroom`` writes ``IMG_1.xmp`` (Lightroom, darktable, Capture One), ``digikam`` writes
``IMG_1.jpg.xmp``. An existing sidecar is never replaced unless asked (``overwrite``); then the journal keeps
the old one and ``undo`` puts it back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..core.photo import display_path
from ..errors import UsageError
from ..metadata.exiv2_backend import new_sidecar
from ..metadata.fields import CaptureDate, Gps, TagEdit, regions_from_upright
from ..metadata.writer import MetadataWriter, Target, embedded_xmp
from .journal import Journal, Step, StepResult
from .tag import ANALYSIS_KINDS, TagAction, TagPlan, keywords_from_results

STYLES = {"lightroom": "stem", "digikam": "full"}
_ISO = re.compile(r"\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?(?:\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?\s*$")


@dataclass
class SidecarAction(TagAction):
    sha256: str | None = None          # the photo's hash from the catalog (not read again to plan the step)


def sidecar_for(photo: Path, style: str) -> Path:
    """``IMG_1.xmp`` (lightroom) or ``IMG_1.jpg.xmp`` (digikam)."""
    if style not in STYLES:
        raise UsageError(f"--style {style!r}: use lightroom (IMG_1.xmp) or digikam (IMG_1.jpg.xmp)")
    photo = Path(photo)
    return photo.with_suffix(".xmp") if style == "lightroom" else photo.with_name(photo.name + ".xmp")


def capture_date(text: str | None) -> CaptureDate | None:
    """The catalog's ISO 8601 capture time (sub-seconds dropped, offset kept when known)."""
    m = _ISO.match(text or "")
    if not m:
        return None
    from datetime import datetime

    try:
        local = datetime(*(int(g) for g in m.groups()[:5]), int(m.group(6) or 0))
    except ValueError:
        return None
    off = m.group(7)
    if off is None:
        return CaptureDate(local)
    if off == "Z":
        return CaptureDate(local, timedelta(0))
    sign = -1 if off[0] == "-" else 1
    digits = off[1:].replace(":", "")
    return CaptureDate(local, sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def edit_from_record(rec: dict[str, Any], face_names: dict[tuple[int, int], str] | None = None,
                     only: Iterable[str] = ANALYSIS_KINDS, min_confidence: float = 0.0) -> TagEdit:
    """Everything the catalog knows about one photo, as one sidecar edit. ``face_names``: (photo id, face
    index) -> person, from the faces index (names given to clusters); ``rec["people"]`` the photo's people."""
    results = rec.get("results") or {}
    md = results.get("metadata") or {}
    only = tuple(only)
    paths = [str(k) for k in md.get("hierarchical_keywords") or () if str(k).strip()]
    leaves = {k.rsplit("|", 1)[-1].strip() for k in paths}
    keywords = paths + [str(k) for k in md.get("keywords") or () if str(k).strip() and str(k).strip() not in leaves]
    keywords += keywords_from_results(results, [k for k in only if k != "people"], min_confidence)
    faces_res = results.get("faces") or {}
    if "people" in only:
        people = rec.get("people")          # the faces index's names (with_people), else the analyzer's
        if people is None:
            people = faces_res.get("people") or []
        keywords += [f"People|{p}" for p in people if str(p).strip()]
    keywords = list(dict.fromkeys(" ".join(k.split()) for k in keywords if k.strip()))
    rating = md.get("rating")
    if isinstance(rating, (int, float)) and -1 <= rating <= 5:
        rating = int(rating)
    else:
        rating = None
    gps = None
    lat, lon = md.get("gps_latitude"), md.get("gps_longitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)) and -90 <= lat <= 90 and -180 <= lon <= 180:
        alt = md.get("gps_altitude")
        gps = Gps(float(lat), float(lon), float(alt) if isinstance(alt, (int, float)) else None)
    regions = None
    faces = faces_res.get("faces") if not faces_res.get("_error") else None
    width, height = md.get("width"), md.get("height")
    if faces and width and height:
        names = face_names or {}
        boxes = [(f["box"], names.get((rec.get("id"), i)) or f.get("person"))
                 for i, f in enumerate(faces) if isinstance(f, dict) and len(f.get("box") or ()) == 4]
        if boxes:
            regions = regions_from_upright(boxes, int(width), int(height), md.get("orientation"))
    return TagEdit(add_keywords=tuple(keywords), title=md.get("title") or None,
                   description=md.get("description") or None, rating=rating, label=md.get("label") or None,
                   gps=gps, date=capture_date(md.get("datetime_original")), regions=regions)


def plan_sidecars(records: Iterable[dict[str, Any]], style: str, overwrite: bool = False,
                  edit_for: Callable[[dict[str, Any]], TagEdit | None] = edit_from_record) -> TagPlan:
    """One sidecar per photo of ``records`` (catalog records). A photo whose sidecar exists is left alone
    unless ``overwrite``; two photos that would share a sidecar (``IMG_1.CR2`` + ``IMG_1.JPG`` with the
    Lightroom naming) give it to the RAW, as Lightroom does."""
    plan = TagPlan("export sidecars")
    chosen: dict[str, TagAction] = {}
    for rec in records:
        photo = Path(rec["path"])
        side = sidecar_for(photo, style)
        try:
            st = os.stat(photo)
        except OSError:
            plan.skipped.append((photo, "not on disk any more"))
            continue
        if rec.get("size") is not None and (st.st_size, st.st_mtime_ns) != (rec.get("size"), rec.get("mtime_ns")):
            plan.skipped.append((photo, "changed since it was analysed; run `imgengine analyze` first"))
            continue
        edit = edit_for(rec)
        if edit is None or edit.is_empty():
            plan.skipped.append((photo, "nothing known to write"))
            continue
        exists = os.path.lexists(side)
        if exists and not overwrite:
            plan.skipped.append((photo, f"{display_path(side)} exists; --overwrite replaces it (undoable)"))
            continue
        fmt = rec.get("format") or ""
        action = SidecarAction(photo, Target(photo, fmt, "sidecar-replace" if exists else "sidecar-new", side),
                               edit, st.st_size, st.st_mtime_ns, rec.get("sha256"))
        key = str(side).casefold()
        other = chosen.get(key)
        if other is not None:
            keep, drop = (action, other) if fmt == "raw" and other.target.fmt != "raw" else (other, action)
            chosen[key] = keep
            plan.skipped.append((drop.photo, f"its sidecar {display_path(side)} goes to {display_path(keep.photo)}; "
                                 "--style digikam gives each file its own"))
            continue
        chosen[key] = action
    plan.actions = sorted(chosen.values(), key=lambda a: os.fsencode(a.photo))
    return plan


def sidecar_steps(plan: TagPlan, writer: MetadataWriter | None = None) -> list[Step]:
    """Journal steps: a new sidecar is created without replacing anything (``write-new``); an existing one
    (``--overwrite``) is rewritten in place with its old bytes kept for undo."""
    steps = []
    for a in plan.actions:
        fresh = _new_sidecar(a.photo, a.edit)
        note = {"note": a.edit.summary()}
        if a.target.how == "sidecar-new":
            sha = getattr(a, "sha256", None)
            steps.append(Step("write-new", a.photo, a.target.path, on_exists="error", produce=fresh, meta=note,
                              sha256=sha, expect_size=a.size if sha else None,
                              expect_mtime_ns=a.mtime_ns if sha else None))
        else:
            try:
                st = os.stat(a.target.path)
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                size = mtime = None
            steps.append(Step("rewrite", a.target.path, expect_size=size, expect_mtime_ns=mtime,
                              produce=lambda _old, tmp, make=fresh: make(None, tmp), meta=note))
    return steps


def _new_sidecar(photo: Path, edit: TagEdit) -> Callable[[bytes | None, Path], bytes]:
    """The producer of one sidecar: the photo's embedded XMP (read once, from the file's head) with ``edit``
    on top. Unlike ``MetadataWriter``'s new-sidecar producer it does not parse the photo's metadata again for
    IPTC-only keywords: the catalog's keywords, IPTC ones included, are already in the edit."""
    def produce(_data: bytes | None, _tmp: Path) -> bytes:
        return new_sidecar(edit, seed=embedded_xmp(photo))
    return produce


def apply_sidecars(plan: TagPlan, journal: Journal, writer: MetadataWriter | None = None,
                   progress: Callable[[StepResult], None] | None = None, workers: int = 1) -> list[StepResult]:
    return journal.run(sidecar_steps(plan, writer), progress=progress, workers=workers)
