"""Reading leads from CSV: every problem is reported with its line and column.

Lines may end in LF, CRLF or CR alone. What the ``csv`` module cannot read (a field longer
than its limit of 131,072 characters, text after a closing quote) ends the parse with an error
on the line it was found on; a quote never closed, an error on the line it opened (the module
alone read the rest of the file as that one field: the rows after it were lost without a
word); a NUL character, which the database cannot store, is an error on its field.

The API's import endpoint and the ``switchboard leads import`` command share this parser, so
a file the command accepts is one the API accepts, and both name the same line and field.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from switchboard.common.phone import is_e164
from switchboard.domain.leads.limits import MAX_CHARS
from switchboard.domain.leads.statuses import LEAD_STATUSES

if TYPE_CHECKING:
    from _csv import Reader

#: Columns a leads CSV may have (header names, case-insensitive); ``phone`` is required.
COLUMNS = ("phone", "name", "email", "intent", "status", "notes")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class RowError:
    """One problem in the file: where it is and what is wrong."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field!r}: {self.message}"


#: What one import takes, all rows or none: the API's and so the CLI's, which sends a file
#: whole (and so refuses a larger one before sending it).
MAX_ROWS = 10_000
MAX_BYTES = 5 * 1024 * 1024
#: The errors one file reports before its parse stops: a 5 MB file of bad one-character
#: lines held 2.6 million errors (13 s and 800 MB to read, for a page that shows 50).
MAX_ERRORS = 1_000
#: The error of a file over :data:`MAX_BYTES`.
TOO_LARGE = RowError(1, "file", "larger than 5 MB: split the file")
#: The error of a file with a header and no lead under it: nothing to import (or to call).
NO_ROWS = RowError(2, "file", "no leads under the header: add a line per number")


@dataclass
class ParsedLeads:
    """The valid rows (each with the line it came from) and every error found."""

    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def normalize_phone(raw: str) -> str | None:
    """``raw`` as E.164 (spaces, dashes, dots and brackets dropped; 00 becomes +), or None."""
    phone = _PHONE_PUNCTUATION.sub("", raw)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    return phone if is_e164(phone) else None


def _check(line: int, name: str, value: str) -> RowError | None:
    if "\x00" in value:
        return RowError(line, name, "contains a NUL character, which text cannot hold")
    if len(value) > MAX_CHARS[name]:
        return RowError(line, name, f"longer than {MAX_CHARS[name]} characters")
    if name == "email" and value and not _EMAIL.match(value):
        return RowError(line, name, f"{value!r} is not an email address")
    if name == "status" and value and value not in LEAD_STATUSES:
        return RowError(line, name, f"{value!r} is not one of: {', '.join(LEAD_STATUSES)}")
    return None


def _header(names: list[str] | None) -> tuple[list[str], list[RowError]]:
    if not names:
        return [], [RowError(1, "phone", "the file is empty: expected a header row")]
    header = [name.strip().lower() for name in names]
    unknown = (name for name in header if name not in COLUMNS)
    errors = [
        RowError(1, name, f"unknown column (expected some of: {', '.join(COLUMNS)})")
        for name in itertools.islice(unknown, MAX_ERRORS)
    ]
    # Counted once: ``header.count`` per column was quadratic (a 5 MB header, for hours).
    counts = Counter(name for name in header if name in COLUMNS)
    errors.extend(
        RowError(1, name, f"column {name!r} appears {count} times in the header")
        for name, count in sorted(counts.items())
        if count > 1
    )  # a row would keep only the last of them, without a word
    if "phone" not in header:
        errors.append(RowError(1, "phone", "the header has no 'phone' column" + _separator(header)))
    return header, errors


def _separator(header: list[str]) -> str:
    """A hint when the header reads as one column holding another separator: a spreadsheet
    saving "CSV" in a locale whose decimal mark is a comma writes semicolons."""
    for mark, name in ((";", "semicolons"), ("\t", "tabs")):
        if any(mark in column for column in header):
            return f" (the file is separated by {name}: save it as comma-separated CSV)"
    return ""


def parse_leads_csv(text: str) -> ParsedLeads:
    """Parse and validate a leads CSV; a phone appearing twice is an error on the second line,
    a header with no lead under it (:data:`NO_ROWS`) an error too."""
    # newline="": the reader sees each line's own ending, so a CR alone ends a line too.
    # strict: a quote never closed is an error at the end of the file, not a last field
    # holding every line after it.
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    parsed = ParsedLeads()
    started = _RecordStarts(reader)
    try:
        _parse_rows(reader, started, parsed)
    except csv.Error as exc:
        if reader.line_num > started.line and str(exc) == "unexpected end of data":
            message = (
                "a quoted field opened on this line is never closed: every line after it "
                'was read as that one field; close its quote (")'
            )
            parsed.errors.append(RowError(started.line, "file", message))
        else:
            line = max(reader.line_num, 1)
            parsed.errors.append(RowError(line, "file", f"unreadable CSV: {exc}"))
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(NO_ROWS)
    return parsed


def _too_many(parsed: ParsedLeads, line: int, errors: list[RowError]) -> bool:
    """Add a row's ``errors``; past :data:`MAX_ERRORS`, say the parse stops here (True)."""
    parsed.errors.extend(errors)
    if len(parsed.errors) < MAX_ERRORS:
        return False
    stop = f"more than {MAX_ERRORS} errors: stopped reading here; correct these first"
    parsed.errors.append(RowError(line, "file", stop))
    return True


class _RecordStarts:
    """The reader's records, noting the line each starts on (a quoted field spans lines)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.line = 1

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            self.line = self.reader.line_num + 1
            values = next(self.reader, None)
            if values is None:
                return
            yield values


def _parse_rows(reader: Reader, records: _RecordStarts, parsed: ParsedLeads) -> None:
    rows = iter(records)
    header, errors = _header(next(rows, None))
    parsed.errors.extend(errors)
    if errors:
        return
    seen: dict[str, int] = {}
    for values in rows:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            got = f"expected {len(header)} columns, got {len(values)}"
            if _too_many(parsed, line, [RowError(line, header[-1], got)]):
                return
            continue
        row = {name: value.strip() for name, value in zip(header, values, strict=True)}
        phone = normalize_phone(row["phone"])
        row_errors = [e for n, v in row.items() if n != "phone" and (e := _check(line, n, v))]
        if phone is None:
            message = f"{row['phone']!r} is not a phone number in E.164 form (+15551234567)"
            row_errors.insert(0, RowError(line, "phone", message))
        elif phone in seen:
            row_errors.insert(0, RowError(line, "phone", f"{phone} already on line {seen[phone]}"))
        if row_errors:
            if _too_many(parsed, line, row_errors):
                return
            continue
        assert phone is not None
        seen[phone] = line
        parsed.rows.append((line, {**row, "phone": phone}))
        if len(parsed.rows) > MAX_ROWS:
            parsed.errors.append(RowError(line, "phone", f"more than {MAX_ROWS} rows"))
            return


def errors_to_show(errors: list[RowError], limit: int) -> list[RowError]:
    """The errors a report shows when only ``limit`` fit, in the file's order: those on the
    whole file (field ``file``: the parse stopped at the 1,000th error, the CSV unreadable)
    always, the first of the others in what room is left. The first ``limit`` alone hid the
    one saying the reading stopped, the last of 1,001, behind "… and 951 more"."""
    room = limit - sum(error.field == "file" for error in errors)
    shown = []
    for error in errors:
        if error.field == "file":
            shown.append(error)
        elif room > 0:
            shown.append(error)
            room -= 1
    return shown


def to_csv(rows: Iterable[dict[str, str]]) -> str:
    """Rows back as CSV text with a header (what the CLI sends of a file it checked)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@dataclass(frozen=True)
class CsvImportOutcome:
    """What an import did: nothing at all when ``errors`` is not empty."""

    created: int
    updated: int
    errors: list[RowError]


def import_leads_csv(business_id: int, data: bytes) -> CsvImportOutcome:
    """Validate a whole leads CSV, then create or update its leads in one transaction; a row
    with the business's own number (``domain/own_number.py``) or a number being erased is an
    error on its line, and nothing is imported."""
    from switchboard.common.db.tenancy import tenant_session
    from switchboard.domain.leads.store import being_erased, import_leads
    from switchboard.domain.own_number import OWN_NUMBER, business_number

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        error = RowError(1, "file", f"not UTF-8 text (byte {exc.start}): save the file as UTF-8")
        return CsvImportOutcome(0, 0, [error])
    parsed = parse_leads_csv(text)
    if parsed.errors:
        return CsvImportOutcome(0, 0, parsed.errors)
    with tenant_session(business_id) as session:
        own = business_number(session, business_id)
    errors = [
        RowError(line, "phone", OWN_NUMBER) for line, row in parsed.rows if row["phone"] == own
    ]
    if errors:  # one line at most: a number appears once in a file that parses
        return CsvImportOutcome(0, 0, errors)
    result = import_leads(business_id, (row for _, row in parsed.rows))
    if result.being_erased:
        errors = [
            RowError(line, "phone", being_erased(result.being_erased[row["phone"]]))
            for line, row in parsed.rows
            if row["phone"] in result.being_erased
        ]
        return CsvImportOutcome(0, 0, errors)
    return CsvImportOutcome(result.created, result.updated, [])
