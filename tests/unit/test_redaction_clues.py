"""``scrub`` skips its patterns for a short ASCII text holding none of their clues: that
shortcut must never let through what the patterns would have masked."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.common import redaction
from switchboard.common.redaction import scrub

PATTERNS = [
    pattern for pattern, _ in [*redaction._SECRET_PATTERNS, *redaction._PERSONAL_PATTERNS]
] + [redaction._PHONE, redaction._OPAQUE]

#: Pieces of the patterns and of ordinary log fields, so that generated texts come near them.
FRAGMENTS = [
    "Bearer ", "BASIC ", "sk-", "sbk_", "Token", "passwd", "api_key", "Auth", "secret",
    "=", ": ", "'", '"', "://", "u:p@h", "[parameters: ", "DETAIL: ", "input_value=",
    ", input_type=", "p256dh", "@", "example.com", "+", "%2B", "%2b", "1555", "0123", "-",
    ".", " ", "(", ")", "abc", "XYZ", "_", "http.request", "2026-12-05T23:10:00Z", "\n",
]  # fmt: skip


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.pattern[:40])
@settings(max_examples=100)
@given(data=st.data())
def test_a_text_a_pattern_matches_is_never_taken_for_plain(
    pattern: re.Pattern[str], data: st.DataObject
) -> None:
    text = data.draw(st.from_regex(pattern, fullmatch=True, alphabet=st.characters(codec="ascii")))
    assert pattern.search(text)
    assert not redaction._plain(text)
    assert scrub(text) == redaction._scrub_all(text)


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_scrub_answers_as_every_pattern_would(text: str) -> None:
    assert scrub(text) == redaction._scrub_all(text)


@pytest.mark.parametrize(
    "text",
    [
        "Bearer abc.def",
        "sk-1234567890ab",
        "token=xyz",
        "pg://u:hunter2@db",
        "DETAIL: Key (x)=(1)",
        "p256dh=BNcR",
        "ann@example.com",
        "+15551234567",
        "%2B15551234567",
        "ſecret=hunter2",  # not ASCII: the patterns decide
    ],
)
def test_short_texts_with_private_data_are_still_masked(text: str) -> None:
    assert scrub(text) != text


def test_ordinary_fields_skip_the_patterns() -> None:
    for text in ("http.request", "POST", "/webhooks/twilio/whatsapp", "2026-12-05T23:10:00Z"):
        assert redaction._plain(text)
        assert scrub(text) == text
