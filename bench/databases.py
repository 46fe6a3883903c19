"""The PostgreSQL databases the benchmarks create for themselves (never the app's own)."""

from __future__ import annotations


def recreate_database(base_url: str, name: str, *, drop_only: bool = False) -> None:
    """Drop database ``name`` (forcing other sessions out) and, unless ``drop_only``, create it
    empty. ``base_url`` (``DATABASE_URL``) is only used to connect."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(base_url.replace("postgres://", "postgresql://", 1), autocommit=True,
                         connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
