"""Helpers for tests that need a throwaway run database (SQLite file or PostgreSQL schema)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.store.config import normalise_url
from core.store.database import dispose_engines

POSTGRES_TEST_ENV = "WHYLM_TEST_POSTGRES_URL"


@contextmanager
def fresh_postgres_schema(base_url: str) -> Iterator[str]:
    """Create an empty schema on the server at ``base_url``; yield a URL that uses it; drop it.

    The yielded URL sets ``search_path`` to the new schema, so every table (and Alembic's
    version table) lands there and the test sees an empty database.
    """
    base_url = normalise_url(base_url)
    schema = f"whylm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            dispose_engines()
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()
