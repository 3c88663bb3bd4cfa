"""How the admin commands print: tables and records for people, JSON on stdout for programs.

Every command prints its result through here, so ``--json`` means the same everywhere (one JSON
document on stdout and nothing else there; messages and progress go to stderr) and no table
ever cuts an id: only long text (names, errors) gives way when the terminal is narrow.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

Row = Mapping[str, Any]

#: The ``--json`` option every command takes.
JsonOption = typer.Option(
    False, "--json", help="Print the result as JSON on stdout instead of text for people."
)


@dataclass(frozen=True)
class Column:
    """One table column: its header, how to get a row's value, and whether it is long text.

    Columns keep their natural width (so ids can be copied whole); only ``long`` ones (names,
    errors) give way when space is short, shown on one line and cut with an ellipsis at
    ``max_width`` or less.
    """

    header: str
    value: Callable[[Row], Any]
    long: bool = False
    max_width: int = 60


def field(name: str, header: str | None = None, **options: Any) -> Column:
    """A column showing ``row[name]`` (blank when missing or null)."""
    return Column(header or name, lambda row: row.get(name), **options)


def when(value: str | None) -> str:
    """A timestamp from the API (ISO 8601, UTC) as ``YYYY-MM-DD HH:MM:SS``; blank when null."""
    if not value:
        return ""
    return value.replace("T", " ").removesuffix("Z").split(".")[0].split("+")[0]


#: Every control character (C0, DEL, C1) shown as ``\x1b``: a caller's name, a file's cell or
#: an id a server echoes holding ESC sequences would otherwise drive the operator's terminal.
_ALL_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
#: The same but tabs and line ends (rich drops a CR), for a cell or a record's value.
_CONTROLS = {code: shown for code, shown in _ALL_CONTROLS.items() if code not in (9, 10, 13)}


def text(value: Any) -> str:
    """A cell's text: blank for null, ``yes``/``no`` for booleans, control characters
    written out (``\\x1b``), never sent to the terminal."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).translate(_CONTROLS)


def one_line_text(value: str) -> str:
    """``value`` on one line whatever it holds: every control character written out, tabs and
    line ends too (``\\x1b``, ``\\x0a``); what an error line quotes (a server's message, an id
    it echoes) can neither drive the terminal nor add a line of its own."""
    return value.translate(_ALL_CONTROLS)


def stdout_console() -> Console:
    """A console on stdout; with no terminal, wide enough that tables stay on one line each."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


def emit_json(data: Any) -> None:
    """Write ``data`` as one JSON document and a newline on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def one_line(value: Any) -> str:
    """A cell's text on one line: the last non-blank line (a traceback's is its exception)."""
    lines = [line.strip() for line in text(value).splitlines() if line.strip()]
    return lines[-1] if lines else ""


#: The narrowest a long column gets before the table is printed as records instead.
MIN_LONG_WIDTH = 8


def build_table(
    rows: Iterable[Row],
    columns: Sequence[Column],
    title: str | None = None,
    *,
    width: int | None = None,
) -> Table | None:
    """A rich table of ``rows``, one line per row; None if it cannot fit in ``width``.

    Every column but the ``long`` ones keeps its natural width, so ids stay whole; the long
    ones share what is left within ``width``, cut with an ellipsis.
    """
    cells = [
        [one_line(c.value(row)) if c.long else text(c.value(row)) for c in columns] for row in rows
    ]
    natural = [max([len(row[i]) for row in cells] + [len(c.header)]) for i, c in enumerate(columns)]
    fixed = sum(n for n, c in zip(natural, columns, strict=True) if not c.long)
    long_columns = sum(1 for c in columns if c.long)
    # Borders and one space of padding each side: 3 characters a column, plus 1.
    spare = (width or 10_000) - fixed - 3 * len(columns) - 1
    if spare < MIN_LONG_WIDTH * long_columns:
        return None
    long_width = spare // long_columns if long_columns else 0
    table = Table(title=title, title_justify="left")
    for column, widest in zip(columns, natural, strict=True):
        if column.long:
            cap = min(column.max_width, long_width)
            table.add_column(column.header, no_wrap=True, overflow="ellipsis", max_width=cap)
        else:
            table.add_column(column.header, no_wrap=True, min_width=widest)
    for row in cells:
        # Text, not markup: a cell holds what callers, files and errors wrote ("[/x]" in a
        # lead's name stopped the whole table with a MarkupError; "[link=…]" made a link).
        table.add_row(*(Text(cell) for cell in row))
    return table


def print_table(
    rows: Sequence[Row],
    columns: Sequence[Column],
    *,
    empty: str,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """Print ``rows`` as a table on stdout, or ``empty`` on stderr when there are none.

    In a terminal too narrow for the table, each row is printed as a record instead, so that
    no id is ever cut or wrapped.
    """
    if not rows:
        Console(stderr=True, highlight=False).print(empty)
        return
    console = console or stdout_console()
    table = build_table(rows, columns, title, width=console.width)
    if table is not None:
        console.print(table)
        return
    if title:
        console.print(title, style="bold")
    for index, row in enumerate(rows):
        if index:
            console.print()
        print_record(((c.header, c.value(row)) for c in columns), console=console)


def print_record(
    pairs: Iterable[tuple[str, Any]], title: str | None = None, *, console: Console | None = None
) -> None:
    """Print one object as ``label  value`` lines; blanks are left out and nothing is cut
    (a long value runs on and the terminal wraps it, so it still copies whole)."""
    shown = [(label, text(value)) for label, value in pairs if text(value) != ""]
    width = max((len(label) for label, _ in shown), default=0)
    console = console or stdout_console()
    if title:
        console.print(title, style="bold", soft_wrap=True, markup=False)
    for label, value in shown:
        indented = value.replace("\n", "\n" + " " * (width + 2))
        console.print(f"{label:<{width}}  {indented}", soft_wrap=True, markup=False)


def show(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """``data`` as JSON when ``as_json``; otherwise let ``render`` print it for people."""
    if as_json:
        emit_json(data)
    else:
        render()


def message(line: str, data: Any, as_json: bool) -> None:
    """The result of an action: ``line`` for people, or ``data`` as JSON."""
    if as_json:
        emit_json(data)
    else:
        sys.stdout.write(line + "\n")
