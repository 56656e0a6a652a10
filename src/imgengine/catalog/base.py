"""What both catalog stores are built on: the context-manager lifecycle, and the translation of paths at
their boundary (named library roots, ``catalog/roots.py``) with the photo-row mapping that uses it."""

from __future__ import annotations

import os
from typing import Any

from .roots import IDENTITY, RootMap
from .rows import photo_record


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
