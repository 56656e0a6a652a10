"""Smart search over the catalog: CLIP text -> image similarity, find-similar, and metadata filters.

Text queries are embedded with the configured CLIP model's text tower (loaded from the same places as
for analyze) and compared with the stored image embeddings of that model. ``--like`` uses the stored
embedding of a catalogued photo, or embeds the photo with CLIP when it is not in the catalog.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog import CatalogStore
from ..core.catalog import Catalog, key_to_path
from ..core.photo import display_path
from ..errors import ModelUnavailableError, UsageError
from ..settings import Settings
from .store import catalog_models, vector_store

QUALITY_ORDER = ("poor", "average", "good", "excellent")


@dataclass
class Filters:
    camera: str | None = None        # substring of "make model", case-insensitive
    year: int | None = None
    has_object: tuple[str, ...] = ()  # DETR labels, all required
    min_quality: str | None = None    # a bucket name (good: good or excellent) or a 0-100 score
    person: str | None = None         # a named face cluster or a person recognised from known_faces_dir
    text: str | None = None           # words found by OCR (SQLite FTS5 query syntax)
    place: str | None = None          # city, region or country from the places analyzer

    def active(self) -> bool:
        return bool(self.camera or self.year or self.has_object or self.min_quality or self.person or self.text
                    or self.place)


@dataclass
class SearchHit:
    photo_id: int
    path: Path
    display_path: str
    score: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.display_path, "score": round(self.score, 4), **self.extra}


def filtered_ids(catalog: CatalogStore, f: Filters) -> set[int]:
    """Photo ids passing every filter, computed in SQL over the stored analyzer results (on either store:
    the JSON and full-text expressions come from ``catalog.dialect``)."""
    sql = catalog.dialect
    where = ["p.status = 'ok'"]
    params: list[Any] = []
    joins = []
    if f.camera or f.year:
        joins.append("LEFT JOIN results m ON m.photo_id = p.id AND m.analyzer = 'metadata'")
    if f.camera:
        where.append(f"lower(coalesce({sql.json_text('m.data', 'make')}, '') || ' ' || "
                     f"coalesce({sql.json_text('m.data', 'model')}, '')) LIKE ?")
        params.append(f"%{f.camera.lower()}%")
    if f.year:
        where.append(f"substr(coalesce({sql.json_text('m.data', 'datetime_original')}, "
                     f"{sql.json_text('m.data', 'create_date')}), 1, 4) = ?")
        params.append(f"{int(f.year):04d}")
    for i, label in enumerate(f.has_object):
        joins.append(f"JOIN results d{i} ON d{i}.photo_id = p.id AND d{i}.analyzer = 'detr'")
        where.append(sql.json_list_has_lower(f"d{i}.data", "labels"))
        params.append(label.lower())
    if f.min_quality:
        joins.append("JOIN results c ON c.photo_id = p.id AND c.analyzer = 'content'")
        text = f.min_quality.strip().lower()
        if text in QUALITY_ORDER:
            ok = QUALITY_ORDER[QUALITY_ORDER.index(text):]
            where.append(f"{sql.json_text('c.data', 'quality')} IN ({','.join('?' * len(ok))})")
            params.extend(ok)
        else:
            try:
                score = float(text)
            except ValueError:
                raise UsageError(f"--min-quality {f.min_quality!r}: use {', '.join(QUALITY_ORDER)} or a "
                                 "score from 0 to 100")
            where.append(f"{sql.json_number('c.data', 'quality_score')} >= ?")
            params.append(score)
    if f.place:
        joins.append("JOIN results pl ON pl.photo_id = p.id AND pl.analyzer = 'places'")
        where.append("? IN (" + ", ".join(f"lower({sql.json_text('pl.data', key)})"
                                          for key in ("city", "region", "country", "country_code")) + ")")
        params.append(f.place.strip().lower())
    if f.text:
        from ..plugins.builtin.ocr import sync_ocr_index

        sync_ocr_index(catalog)
        where.append(f"p.id IN ({sql.ocr_match()})")
        params.append(sql.text_query(f.text))
    where.append("p.missing_since IS NULL")
    query = f"SELECT p.id FROM photos p {' '.join(joins)} WHERE {' AND '.join(where)}"
    try:
        ids = {row[0] for row in catalog.session.execute(query, params)}
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "MATCH" in str(exc) or "syntax" in str(exc):
            raise UsageError(f"--text {f.text!r}: {exc}")
        raise
    if f.person:
        from ..plugins.builtin.faces_index import photos_of_person, sync_faces

        sync_faces(catalog)
        ids &= photos_of_person(catalog, f.person)
    return ids


def filter_only(catalog: Catalog, filters: Filters, limit: int) -> list[SearchHit]:
    """Photos matching the filters alone (no similarity query): OCR matches by FTS5 rank, else by path."""
    ids = filtered_ids(catalog, filters)
    rank: dict[int, float] = {}
    if filters.text and ids:
        for row in catalog.session.execute(catalog.dialect.ocr_rank(), (catalog.dialect.text_query(filters.text),)):
            rank[row[0]] = float(row[1])
    hits = []
    for photo_id in ids:
        row = catalog.photo_path(photo_id)
        if row is not None:
            hits.append(SearchHit(photo_id, key_to_path(row[0]), row[1], rank.get(photo_id, 1.0)))
    hits.sort(key=lambda h: (-h.score, h.display_path))
    return hits[:limit]


def pick_model(catalog: Catalog, settings: Settings, need_encoder: bool) -> str:
    """The CLIP model whose embeddings to search: the configured one if it is available (it must be for
    a text query), else the one that produced most of the catalog's embeddings."""
    from ..analyzers.vision.engine import model_version
    from ..analyzers.vision.models import how_to_get, locate_model

    loc = locate_model("clip", settings)
    if loc.path is not None:
        return model_version("clip", loc.name, loc.path)
    stored = catalog_models(catalog)  # a scan of every clip result: only when the configured model is absent
    if need_encoder:
        raise ModelUnavailableError(how_to_get([loc.name], settings).replace("use --no-vision to skip this "
                                                                             "stage quietly", "a text search "
                                                                             "needs the CLIP model"))
    if not stored:
        raise UsageError("the catalog has no image embeddings yet; run `imgengine analyze <dir>` with the CLIP "
                         "model available first")
    return stored.most_common(1)[0][0]


class ClipEncoder:
    """The configured CLIP model on the CPU, for query embeddings."""

    def __init__(self, settings: Settings):
        from ..analyzers.vision.engine import ClipRunner
        from ..analyzers.vision.labels import LabelSet
        from ..analyzers.vision.models import how_to_get, load_pretrained, locate_model

        loc = locate_model("clip", settings)
        if loc.path is None:
            raise ModelUnavailableError(how_to_get([loc.name], settings))
        model, processor = load_pretrained("clip", loc.path)
        self.runner = ClipRunner(model, processor, LabelSet({"query": ("",)}), "cpu")
        self.max_pixels = settings.max_pixels

    def text(self, text: str) -> np.ndarray:
        return self.runner.text_embeddings([text])[0].cpu().numpy()

    def image(self, path: Path) -> np.ndarray:
        from ..analyzers.base import InputSpec as ModelInput
        from ..core.decode import decode_for_analysis
        from ..core.photo import Photo
        from ..engine.loader import InputSpec, prepare_pixels

        spec = InputSpec(inputs=(("clip", ModelInput(self.runner.crop, crop=True, resize=self.runner.resize)),))
        decoded = decode_for_analysis(Photo.from_path(path), None, spec.decode_size, self.max_pixels)
        pixels = prepare_pixels(decoded.image, spec)["clip"].unsqueeze(0)
        return self.runner.image_embeddings(pixels)[0].cpu().numpy()


def search(catalog: Catalog, settings: Settings, text: str | None = None, like: Path | None = None,
           filters: Filters | None = None, limit: int = 20, backend: str = "auto", progress: Any = None
           ) -> tuple[list[SearchHit], dict]:
    """Rank the catalog's photos; returns (hits, info about the store and index used). ``progress``
    (``imgengine.progress.StepProgress``) hears the search index being brought up to date."""
    filters = filters or Filters()
    if limit < 1:
        raise UsageError("--limit must be at least 1")
    if not text and like is None:
        if not filters.active():
            raise UsageError("give a text query, --like PHOTO, or a filter (--person, --text, --place, ...)")
        hits = filter_only(catalog, filters, limit)
        return hits, {"model": None, "embeddings": 0, "index": "filters", "added": 0, "removed": 0,
                      "filtered_to": len(hits)}
    like_id = None
    if like is not None:
        if not Path(like).is_file():
            raise UsageError(f"--like {display_path(like)}: no such file")
        like_id = catalog.photo_id(like)
    model = pick_model(catalog, settings, need_encoder=bool(text))
    store = vector_store(catalog, model, backend)
    report = store.sync(progress)
    if report.total == 0:
        raise UsageError("the catalog has no image embeddings from this CLIP model yet; run "
                         "`imgengine analyze <dir>` with the model available first")
    encoder = None
    text_path = None
    query = np.zeros(0, dtype=np.float32)
    if text:
        from .text_encoder import text_encoder

        text_side, text_path = text_encoder(settings)  # ONNX when exported, else torch: same vectors
        query = text_side.text(text)
        if isinstance(text_side, ClipEncoder):
            encoder = text_side
    if like is not None:
        vec = store.vector_of(like_id) if like_id is not None else None
        if vec is None:
            encoder = encoder or ClipEncoder(settings)
            vec = encoder.image(Path(like))
        query = vec if not len(query) else query / np.linalg.norm(query) + vec / np.linalg.norm(vec)
    allowed = filtered_ids(catalog, filters) if filters.active() else None
    if allowed is not None and like_id is not None:
        allowed.discard(like_id)
    gone = catalog.missing_ids()
    want = limit + (1 if like_id is not None and allowed is None else 0) + (len(gone) if allowed is None else 0)
    ranked = [(i, s) for i, s in store.search(query, want, allowed) if i != like_id and i not in gone][:limit]
    hits = []
    for photo_id, score in ranked:
        row = catalog.photo_path(photo_id)
        if row is None:
            continue
        hits.append(SearchHit(photo_id, key_to_path(row[0]), row[1], score))
    info = {"model": model, "embeddings": report.total, "index": report.index, "added": report.added,
            "removed": report.removed, "filtered_to": None if allowed is None else len(allowed),
            "text_encoder": text_path}
    return hits, info


__all__ = ["Filters", "SearchHit", "filter_only", "filtered_ids", "search"]
