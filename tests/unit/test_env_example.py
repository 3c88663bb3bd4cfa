""".env.example lists every variable Settings reads, each once, with its true default."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import TypeAdapter

from switchboard.common.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
#: ``#NAME=default``: a variable; prose comments start with ``# ``.
VARIABLE = re.compile(r"^#([A-Z][A-Z0-9_]*)=(.*)$")


def _listed() -> list[tuple[str, str]]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return [(m.group(1), m.group(2)) for m in map(VARIABLE.match, lines) if m]


def _suggestion(name: str) -> str:
    default = Settings.model_fields[name.lower()].default
    shown = (
        "" if default is None else str(default).lower() if isinstance(default, bool) else default
    )
    return f"#{name}={shown}"


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    listed = [name for name, _ in _listed()]
    read = {name.upper() for name in Settings.model_fields}
    missing = sorted(read - set(listed))
    assert not missing, "add to .env.example:\n" + "\n".join(map(_suggestion, missing))
    assert not set(listed) - read, f"not read by Settings: {sorted(set(listed) - read)}"
    assert len(listed) == len(set(listed)), "a variable is listed twice"


def test_every_default_shown_is_the_one_settings_uses() -> None:
    for name, shown in _listed():
        field = Settings.model_fields[name.lower()]
        if shown == "" and field.default is None:
            continue
        value = TypeAdapter(field.annotation).validate_python(shown)
        assert value == field.default, f"{name}: .env.example shows {shown!r}"


def test_a_plain_copy_of_env_example_changes_nothing() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    assert all(not line.strip() or line.startswith("#") for line in lines)
