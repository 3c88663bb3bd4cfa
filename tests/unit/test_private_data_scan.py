"""The end-to-end tier's scan finds a private value in a service's output in any form a
service would print it, and nothing in scrubbed output."""

from __future__ import annotations

from pathlib import Path

from tests.support import private_data


def test_the_scan_finds_a_value_as_is_url_encoded_or_without_its_plus(tmp_path: Path) -> None:
    output = tmp_path / "service.log"
    output.write_text(
        "ready\n"
        "GET /internal/v1/agent-config?to=%2B15557654321\n"
        "lead created for Dana Smith\n"
        "call from +***4321 <***@***>\n"
    )
    with private_data.collecting():
        private_data.register("+15557654321", "Dana Smith", "dana@example.com", "Al")
    assert "Al" not in private_data.values()  # too short to look for

    leaks = private_data.leaks([output])

    assert [(leak.line_number, leak.value) for leak in leaks] == [
        (2, "%2B15557654321"),
        (3, "Dana Smith"),
    ]


def test_nothing_is_registered_outside_the_end_to_end_tier(tmp_path: Path) -> None:
    private_data.register("+15550009999")
    private_data.watch(tmp_path / "other.log")
    assert "+15550009999" not in private_data.values()
    assert tmp_path / "other.log" not in private_data.outputs()
