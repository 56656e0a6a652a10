"""What both catalog stores are built on: the context-manager lifecycle, and the translation of paths at
their boundary (named library roots, ``catalog/roots.py``) with the photo-row mapping that uses it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from .roots import IDENTITY, RootMap
from .rows import photo_record, result_value


class StoreBase:
    """Mixed into ``core.catalog.Catalog`` (SQLite) and ``catalog.postgres.PostgresCatalog``."""

    roots: RootMap = IDENTITY

    def close(self) -> None:  # pragma: no cover - each store closes its connection
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stored_key(self, path: os.PathLike | str) -> bytes:
        """The stored key of a path on this machine."""
        return self.roots.to_stored(os.fsencode(os.path.abspath(path)))

    def stored_prefix(self, root: os.PathLike | str) -> bytes:
        """The stored keys under the folder ``root`` start with this."""
        return self.stored_key(root).rstrip(b"/") + b"/"

    def local_key(self, stored: bytes | memoryview) -> bytes:
        """A stored key as this machine's path key."""
        return self.roots.to_local(bytes(stored))

    def _photo_row(self, row: Any) -> dict[str, Any]:
        return photo_record(row, self.local_key)

    def _with_results(self, photos: Iterable[Any], results: Iterable[Any]) -> Iterator[dict[str, Any]]:
        """Full records from photo rows (in order) and the ``results`` rows of those photos."""
        by_photo: dict[int, dict[str, Any]] = {}
        for r in results:
            by_photo.setdefault(r["photo_id"], {})[r["analyzer"]] = result_value(r["data"], r["version"], r["error"])
        for row in photos:
            rec = self._photo_row(row)
            rec["results"] = by_photo.get(row["id"], {})
            yield rec
