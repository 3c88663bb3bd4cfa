"""The private values the end-to-end tests used, and the service output that must not show them.

While ``collecting()`` is on (the end-to-end tier turns it on around each of its tests), the
factories register what they make that is private (phone numbers, API keys, lead names and
e-mails; tests add what callers say and write), and every service process started registers
its output file. ``leaks()`` then lists each private value found in any of those files:
``tests/e2e/test_service_output_is_private.py`` runs it once the tier's tests have run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

#: Shorter values would be found by chance (a lead named "Al" in any word).
MIN_LENGTH = 6
_E164 = re.compile(r"\+\d{7,15}")


@dataclass(frozen=True)
class Leak:
    """A private value in a service's output."""

    path: Path
    line_number: int
    value: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line_number}: {self.value!r}"


class _Registry:
    def __init__(self) -> None:
        self.collecting = False
        self.values: set[str] = set()
        self.outputs: list[Path] = []


_registry = _Registry()


@contextmanager
def collecting() -> Iterator[None]:
    """Register private values and service outputs for the duration."""
    before = _registry.collecting
    _registry.collecting = True
    try:
        yield
    finally:
        _registry.collecting = before


def is_collecting() -> bool:
    return _registry.collecting


def _forms(value: str) -> set[str]:
    """The value as a service might print it: as is, URL-encoded, a number without its ``+``
    (``%2B``, ``whatsapp:``, Twilio's forms)."""
    forms = {value, quote(value, safe=""), quote_plus(value)}
    if _E164.fullmatch(value):
        forms.add(value[1:])
    return forms


def register(*values: str | None) -> None:
    """Values that no service may print (ignored unless collecting, or too short to find)."""
    if _registry.collecting:
        for value in values:
            if value and len(value) >= MIN_LENGTH:
                _registry.values.update(_forms(value))


def watch(path: Path) -> None:
    """A service's output file, to be scanned (ignored unless collecting)."""
    if _registry.collecting:
        _registry.outputs.append(path)


def outputs() -> list[Path]:
    return list(_registry.outputs)


def values() -> set[str]:
    return set(_registry.values)


def leaks(paths: list[Path] | None = None, private: set[str] | None = None) -> list[Leak]:
    """Every private value found in a watched output, with where it was found."""
    private = values() if private is None else private
    if not private:
        return []
    # Longest first: of two values where one contains the other, the longer is reported.
    pattern = re.compile("|".join(map(re.escape, sorted(private, key=len, reverse=True))))
    found = []
    for path in outputs() if paths is None else paths:
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found.extend(Leak(path, number, match.group(0)) for match in pattern.finditer(line))
    return found
