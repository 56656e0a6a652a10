"""The catalog store interface and its two stores: SQLite (``core.catalog.Catalog``, the embedded default)
and PostgreSQL (``catalog.postgres.PostgresCatalog``, for several machines writing into one catalog).

``open_catalog(spec)`` picks the store from the spec: a ``postgresql://`` (or ``postgres://``) URL opens the
PostgreSQL store (psycopg 3 is imported only then); anything else is a SQLite file path.
"""

from __future__ import annotations

import os
from pathlib import Path

from .store import CatalogStore

URL_SCHEMES = ("postgresql://", "postgres://")


def is_catalog_url(spec: object) -> bool:
    """True when ``spec`` names a PostgreSQL catalog (a URL, not a file path)."""
    return isinstance(spec, str) and spec.startswith(URL_SCHEMES)


def open_catalog(spec: str | os.PathLike, readonly: bool = False, roots: dict | None = None) -> CatalogStore:
    """The catalog store named by ``spec``: a PostgreSQL URL or a SQLite file path. ``roots`` (the ``roots:``
    setting) maps named library roots to this machine's mount points (``catalog.roots``)."""
    if is_catalog_url(spec):
        from .postgres import PostgresCatalog

        return PostgresCatalog(str(spec), readonly=readonly, roots=roots)
    from ..core.catalog import Catalog

    return Catalog(Path(spec), readonly=readonly, roots=roots)


def catalog_exists(spec: str | os.PathLike) -> bool:
    """A SQLite file that exists, or any PostgreSQL URL (the server creates the schema on first use)."""
    return is_catalog_url(spec) or Path(spec).is_file()


__all__ = ["CatalogStore", "catalog_exists", "is_catalog_url", "open_catalog"]
