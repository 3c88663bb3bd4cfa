from switchboard.voice_gateway.domain.playback import (
    PlaybackMark,
    PlaybackTracker,
    text_from_mark,
    text_mark_name,
    truncate_text,
)


def test_a_mark_name_round_trips_and_foreign_marks_are_ignored() -> None:
    mark = PlaybackMark("item_1", 600)
    assert PlaybackMark.parse(mark.name) == mark
    assert PlaybackMark.parse("someone-elses-mark") is None
    assert PlaybackMark.parse("sb:notanumber:item") is None


def test_played_time_is_what_the_last_echoed_mark_says_not_what_was_sent() -> None:
    tracker = PlaybackTracker()
    for ms in (200, 400, 600, 800):
        tracker.mark_sent(PlaybackMark("a", ms))
    tracker.mark_played(PlaybackMark("a", 200).name)
    tracker.mark_played(PlaybackMark("a", 400).name)
    assert tracker.played_ms("a") == 400
    assert tracker.outstanding_marks == 2


def test_interrupting_cuts_at_the_played_time_and_ignores_the_echoes_of_cleared_audio() -> None:
    tracker = PlaybackTracker()
    for ms in (200, 400, 600):
        tracker.mark_sent(PlaybackMark("a", ms))
    tracker.mark_played(PlaybackMark("a", 200).name)
    assert tracker.interrupt("a") == 200
    tracker.mark_played(PlaybackMark("a", 600).name)  # Twilio echoes cleared marks too
    assert tracker.played_ms("a") == 200
    assert tracker.outstanding_marks == 0


def test_the_text_heard_is_cut_in_proportion_to_the_audio_heard_at_a_word_boundary() -> None:
    text = "one two three four five six seven eight nine ten"
    assert truncate_text(text, 500, 1000) == "one two three four five…"
    assert truncate_text(text, 1000, 1000) == text
    assert truncate_text(text, 0, 1000) == ""
    assert truncate_text(text, 50, 1000) == ""


def test_a_text_mark_carries_the_answer_words_for_a_simulator() -> None:
    assert text_from_mark(text_mark_name("Hello   there\n friend")) == "Hello there friend"
    assert text_from_mark("sb:200:item") is None
