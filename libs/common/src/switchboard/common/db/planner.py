"""Planner settings for statements that find their rows by key: one generic plan, index scans
and nested loops only.

A plan is made once and kept: by a connection for its prepared statements, by PL/pgSQL for each
statement of a function, per session. Made while a table was small or its statistics stale (a
new database; a table that grew since the last ``ANALYZE``, or with autovacuum off), a
sequential scan or a hash join is what the planner picks for a lookup by key, and it then reads
the whole table on every call for as long as the session lives: on the WhatsApp path, answering
a message cost more with every message stored. With the methods below switched off, a lookup
that has an index uses it whatever the statistics say; a statement with none still runs, as a
sequential scan. And with such plans safe whatever the parameters, each statement keeps one
generic plan: by default PostgreSQL plans a statement anew on every call for as long as a
generic plan looks costlier than the custom ones, which it did for most of the WhatsApp
functions' statements (planning was an eighth of PostgreSQL's CPU per answered message).

The job ledger's connections and the webhook store's set them for the session
(``worker/runtime/ledger_connections``, ``api/adapters/whatsapp_inbound``); the migrations'
functions that look rows up by key carry them (``SET`` clauses, migration 0023): a function's
statements, and the foreign-key checks its writes fire, are planned under them, whichever
connection calls it.
"""

from __future__ import annotations

#: The settings, as ``name: value``.
KEYED_SETTINGS = {
    "plan_cache_mode": "force_generic_plan",
    **{f"enable_{method}": "off" for method in ("seqscan", "bitmapscan", "hashjoin", "mergejoin")},
}


def session_options() -> str:
    """The settings as a connection's startup ``options`` (no round trip of their own)."""
    return " ".join(f"-c {name}={value}" for name, value in KEYED_SETTINGS.items())


def function_settings() -> str:
    """The settings as a function's ``SET`` clauses (``ALTER FUNCTION … <these>``)."""
    return " ".join(f"SET {name} = {value}" for name, value in KEYED_SETTINGS.items())
