"""The shared output of the admin commands: ids whole in any width, JSON alone on stdout."""

from __future__ import annotations

import io
import json

from rich.console import Console

from switchboard.cli import output
from switchboard.cli.jobs_cmd import COLUMNS as JOB_COLUMNS

JOB = {
    "id": "3f2a9c1e-7b44-4d2a-9e51-0c6f1d2b8a77",
    "actor_name": "send_whatsapp_reply",
    "queue_name": "whatsapp",
    "status": "dead",
    "attempts": 4,
    "enqueued_at": "2025-03-04T10:11:12.345678Z",
    "last_error": 'Traceback (most recent call last):\n  File "x.py", line 1\n'
    + "TwilioRestError: the number is not reachable " * 5,
}


def rendered(width: int, rows=(JOB,), columns=JOB_COLUMNS) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    output.print_table(list(rows), columns, empty="none", console=console)
    return buffer.getvalue()


def test_a_job_id_stays_whole_on_one_line_at_any_width() -> None:
    for width in (200, 130, 100, 80, 60, 40):
        assert JOB["id"] in rendered(width), width


def test_a_long_error_is_cut_to_its_last_line_with_an_ellipsis_but_the_id_is_not() -> None:
    table = rendered(160)
    assert "┃ id " in table and JOB["id"] in table
    assert "TwilioRestError: the number is not" in table and "…" in table
    assert "Traceback" not in table


def test_a_terminal_too_narrow_for_the_table_gets_one_record_per_row() -> None:
    other = {**JOB, "id": "9b1c0d2e-0000-4000-8000-000000000001", "last_error": None}
    records = rendered(60, rows=(JOB, other))
    assert "┃" not in records
    assert f"id          {JOB['id']}" in records and f"id        {other['id']}" in records
    assert "Traceback (most recent call last):" in records  # the whole error, not cut


def test_timestamps_are_shown_in_utc_without_fractions_or_zone() -> None:
    assert output.when("2025-03-04T10:11:12.345678Z") == "2025-03-04 10:11:12"
    assert output.when("2025-03-04T10:11:12+00:00") == "2025-03-04 10:11:12"
    assert output.when(None) == ""
    assert "2025-03-04 10:11:12" in rendered(200)


def test_cells_show_nulls_blank_and_booleans_as_words() -> None:
    assert [output.text(v) for v in (None, True, False, 0, "x")] == ["", "yes", "no", "0", "x"]


def test_json_output_is_one_document_on_stdout_and_nothing_else(capsys) -> None:
    output.show([JOB], True, lambda: print("a table"))
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [JOB] and captured.out.count("\n") == 1
    assert captured.err == ""


def test_an_empty_list_says_so_on_stderr_and_leaves_stdout_empty(capsys) -> None:
    output.print_table([], JOB_COLUMNS, empty="no jobs")
    captured = capsys.readouterr()
    assert captured.out == "" and "no jobs" in captured.err


def test_a_table_without_a_terminal_is_wide_enough_for_one_line_per_row(capsys) -> None:
    output.print_table([JOB], JOB_COLUMNS, empty="no jobs")
    lines = [line for line in capsys.readouterr().out.splitlines() if JOB["id"] in line]
    assert len(lines) == 1 and "send_whatsapp_reply" in lines[0]


def test_a_cell_is_shown_as_written_never_read_as_markup() -> None:
    """A lead's name comes from a CSV or a caller: "[/x]" stopped the whole table with a
    MarkupError traceback, and "[link=…]" turned into a link in the operator's terminal."""
    names = ["[/oops]", "[link=https://evil.test]click[/link] [bold]x[/bold]"]
    rows = [{"id": index, "name": name} for index, name in enumerate(names)]
    columns = (output.field("id"), output.field("name", long=True, max_width=80))
    shown = rendered(200, rows, columns)
    for name in names:
        assert name in shown


def test_control_characters_are_written_out_not_sent_to_the_terminal() -> None:
    """An ESC sequence in a lead's name (a CSV cell, a caller) cleared the operator's screen
    or wrote a link; it is shown as ``\\x1b`` in tables and records alike."""
    name = "Ada\x1b[2J\x1b]8;;https://evil.test\x07x\x9b"
    rows = [{"id": 1, "name": name}]
    columns = (output.field("id"), output.field("name", long=True, max_width=80))
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    output.print_record([("name", name)], console=console)
    for shown in (rendered(200, rows, columns), buffer.getvalue()):
        assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
        assert "Ada\\x1b[2J\\x1b]8;;https://evil.test\\x07x\\x9b" in shown
