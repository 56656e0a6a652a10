"""The few SQL expressions that differ between the stores, for the modules that build their own queries
over the catalog's tables (search filters, faces, OCR, albums).

Those modules write SQLite-flavoured SQL (``?`` placeholders, ``COLLATE NOCASE`` comparisons,
``INSERT OR REPLACE``) and run it on ``catalog.session``: on SQLite the connection itself, on PostgreSQL
a session that translates it (``catalog.postgres.PgSession``). What cannot be translated word for word
(JSON paths, full-text search) comes from ``catalog.dialect``: one of the two classes below.
"""

from __future__ import annotations


class SqliteDialect:
    name = "sqlite"

    @staticmethod
    def json_text(expr: str, key: str) -> str:
        """The value of ``key`` in the JSON text ``expr`` (numbers stay numbers in SQLite)."""
        return f"json_extract({expr}, '$.{key}')"

    @staticmethod
    def json_number(expr: str, key: str) -> str:
        return f"json_extract({expr}, '$.{key}')"

    @staticmethod
    def json_list_has_lower(expr: str, key: str) -> str:
        """True when the JSON list at ``key`` holds a string whose lower case is the parameter."""
        return f"EXISTS (SELECT 1 FROM json_each({expr}, '$.{key}') WHERE lower(value) = ?)"

    @staticmethod
    def ocr_match() -> str:
        """Photo ids whose OCR text matches the parameter (a ``text_query``)."""
        return "SELECT rowid FROM ocr_text WHERE ocr_text MATCH ?"

    @staticmethod
    def ocr_rank() -> str:
        """(photo id, relevance: higher is better) of the OCR matches of the parameter."""
        return "SELECT rowid, -bm25(ocr_text) FROM ocr_text WHERE ocr_text MATCH ?"

    @staticmethod
    def text_query(text: str) -> str:
        """Plain words are all required (each as a quoted term, so punctuation such as 2023-01 is literal);
        a query that already uses FTS5 syntax (quotes, OR, NEAR, *) is passed through."""
        if any(tok in text for tok in ('"', " OR ", " NOT ", "NEAR(", "*")):
            return text
        return " ".join('"' + w.replace('"', '""') + '"' for w in text.split() if w)


class PostgresDialect:
    """JSON as ``jsonb``; OCR text searched with PostgreSQL's full-text search (``simple`` configuration:
    no stemming, like FTS5's unicode61; accents are kept, where FTS5 removes them), queries in
    ``websearch_to_tsquery`` syntax (words all required, "quoted phrases", OR, -not)."""

    name = "postgresql"

    @staticmethod
    def json_text(expr: str, key: str) -> str:
        return f"(({expr})::jsonb ->> '{key}')"

    @staticmethod
    def json_number(expr: str, key: str) -> str:
        return f"((({expr})::jsonb ->> '{key}')::double precision)"

    @staticmethod
    def json_list_has_lower(expr: str, key: str) -> str:
        return (f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(({expr})::jsonb -> '{key}', '[]')) "
                "AS v(value) WHERE lower(value) = ?)")

    @staticmethod
    def ocr_match() -> str:
        return "SELECT rowid FROM ocr_text WHERE to_tsvector('simple', text) @@ websearch_to_tsquery('simple', ?)"

    @staticmethod
    def ocr_rank() -> str:
        return ("SELECT rowid, ts_rank(to_tsvector('simple', text), q) FROM ocr_text, "
                "websearch_to_tsquery('simple', ?) AS q WHERE to_tsvector('simple', text) @@ q")

    @staticmethod
    def text_query(text: str) -> str:
        return text
