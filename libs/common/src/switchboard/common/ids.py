"""The ids our tables give their rows, as far as any process outside the database needs them.

Imports nothing: the voice gateway, which has no database and loads no SQLAlchemy, checks the
ids its callback URLs carry against the same bound as the API's paths, cursors and bodies.
"""

from __future__ import annotations

#: The largest id a row may have (BIGINT and SQLite's INTEGER both stop here): the bound of
#: every id a request may name.
MAX_ID = 2**63 - 1
