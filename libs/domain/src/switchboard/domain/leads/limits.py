"""How long a lead's text fields may be, written once for the API and the CSV import: the
columns' own lengths (``domain.lengths``), and the notes' limit, a TEXT column's."""

from __future__ import annotations

from switchboard.common.models import Lead
from switchboard.domain.lengths import column_chars

#: The notes are TEXT in the database: this is the product's limit for one lead's.
MAX_NOTES_CHARS = 10_000
#: The most characters each text field of a lead holds, by field name.
MAX_CHARS = {
    **{
        name: column_chars(Lead.__table__.c[name])
        for name in ("phone", "name", "email", "intent", "status")
    },
    "notes": MAX_NOTES_CHARS,
}
