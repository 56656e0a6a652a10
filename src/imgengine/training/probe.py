"""The linear probe's inputs: each dataset image's CLIP embedding, read from the catalog (``analyze`` made it)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..analyzers.vision.embedding import decode_embedding
from ..core.catalog import Catalog, path_key
from ..errors import UsageError
from ..settings import Settings
from .imagefolder import ImageFolder


def load_embeddings(folder: ImageFolder, catalog: Path | None) -> tuple[np.ndarray, str, Path]:
    """(N, D) float32 embeddings in ``folder.samples`` order, the CLIP model they came from, the catalog."""
    root = Path(os.path.abspath(folder.root))
    path = Path(catalog) if catalog else Settings().catalog_path(root)
    how = f"run `imgengine analyze {folder.root}` with the CLIP model available first"
    if not path.is_file():
        raise UsageError(f"linear probe: no catalog at {path}; {how}")
    with Catalog(path, readonly=True) as cat:
        found = {}
        for photo, data in cat.results_of("clip", root):
            if data.get("embedding"):
                found[path_key(photo["path"])] = (data["embedding"], data.get("model", "clip"))
    rows, models, missing = [], set(), []
    for s in folder.samples:
        hit = found.get(path_key(os.path.abspath(s.path)))
        if hit is None:
            missing.append(s.path)
            continue
        rows.append(decode_embedding(hit[0]))
        models.add(hit[1])
    if missing:
        raise UsageError(f"linear probe: {len(missing)} of {len(folder.samples)} images have no CLIP embedding in "
                         f"{path} (e.g. {missing[0]}); {how}")
    if len(models) > 1:
        raise UsageError(f"linear probe: the embeddings come from several CLIP models ({', '.join(sorted(models))}); "
                         f"re-run `imgengine analyze {folder.root}` so they all use one")
    return np.stack(rows).astype(np.float32), models.pop(), path
