"""Catalog stores under test: see ``tests/pg_fixtures.py`` (SQLite and a real PostgreSQL)."""

from tests.pg_fixtures import catalog_spec, postgres_admin_url, postgres_url  # noqa: F401 - fixtures
