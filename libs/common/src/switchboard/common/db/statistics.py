"""Statistics for tables PostgreSQL has never analyzed.

Autovacuum analyzes a table a minute or more after it starts changing. Until then the planner
guesses every selectivity (a business's id looks as selective as a key), and the plans it
caches meanwhile stay: PL/pgSQL keeps a generic plan after a statement's fifth run in a
session. A new deployment that takes a burst at once would run on such plans for that
minute. The scheduler's leader calls :func:`analyze_new_tables` every few seconds: a table
that has never been analyzed and has had ``MIN_CHANGES`` rows written is analyzed once, which
also replans every cached statement that reads it; autovacuum keeps it current after that.
"""

from __future__ import annotations

from sqlalchemy import text

from switchboard.common.db.engine import migration_engine
from switchboard.common.logging import get_logger

log = get_logger(__name__)

#: Rows written to a never-analyzed table before it is analyzed (autovacuum's threshold is
#: 50 rows plus 10 % of the table, checked once a minute).
MIN_CHANGES = 500
_NEVER_ANALYZED = text(
    "SELECT relname FROM pg_stat_user_tables "
    "WHERE schemaname = current_schema() AND last_analyze IS NULL "
    "AND last_autoanalyze IS NULL AND n_mod_since_analyze >= :min_changes ORDER BY relname"
)


def analyze_new_tables(min_changes: int = MIN_CHANGES) -> list[str]:
    """Analyze the tables that changed enough and were never analyzed; return their names.

    As the tables' owner (``MIGRATION_DATABASE_URL``): PostgreSQL lets only the owner
    analyze a table, and skips it with a warning for a role that owns nothing.
    """
    with migration_engine() as engine:
        if engine.dialect.name != "postgresql":
            return []
        with engine.connect() as conn:
            names = [
                str(name) for name in conn.scalars(_NEVER_ANALYZED, {"min_changes": min_changes})
            ]
            preparer = conn.dialect.identifier_preparer
            for name in names:
                conn.execute(text(f"ANALYZE {preparer.quote(name)}"))
            conn.commit()
    if names:
        log.info("db.new_tables_analyzed", tables=names)
    return names
