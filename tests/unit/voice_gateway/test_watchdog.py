from switchboard.voice_gateway.domain.watchdog import CallWatchdog, WatchdogAction


def watchdog(**overrides: float) -> CallWatchdog:
    return CallWatchdog(
        **{"started_at": 0.0, "silence_timeout_s": 10, "max_call_s": 300, **overrides}
    )


def test_a_silent_caller_is_prompted_once_then_hung_up_on() -> None:
    dog = watchdog()
    assert dog.check(9.9, agent_speaking=False) is None
    assert dog.check(10.0, agent_speaking=False) is WatchdogAction.PROMPT_SILENT_CALLER
    assert dog.check(15.0, agent_speaking=False) is None
    assert dog.check(20.0, agent_speaking=False) is WatchdogAction.HANG_UP_SILENCE


def test_speech_from_the_caller_restarts_the_silence_clock_and_forgets_the_prompt() -> None:
    dog = watchdog()
    assert dog.check(10.0, agent_speaking=False) is WatchdogAction.PROMPT_SILENT_CALLER
    dog.activity(12.0)
    assert dog.check(21.0, agent_speaking=False) is None
    assert dog.check(22.0, agent_speaking=False) is WatchdogAction.PROMPT_SILENT_CALLER


def test_the_caller_is_not_silent_while_the_agent_talks() -> None:
    dog = watchdog()
    assert dog.check(30.0, agent_speaking=True) is None
    dog.agent_finished(30.0)
    assert dog.check(39.0, agent_speaking=False) is None
    assert dog.check(40.0, agent_speaking=False) is WatchdogAction.PROMPT_SILENT_CALLER


def test_the_silence_after_a_prompt_counts_from_the_end_of_the_prompt_audio() -> None:
    dog = watchdog()
    dog.check(10.0, agent_speaking=False)
    dog.agent_finished(13.0)
    assert dog.check(22.0, agent_speaking=False) is None
    assert dog.check(23.0, agent_speaking=False) is WatchdogAction.HANG_UP_SILENCE


def test_the_maximum_call_duration_ends_the_call_even_mid_sentence() -> None:
    dog = watchdog(max_call_s=60)
    assert dog.check(60.0, agent_speaking=True) is WatchdogAction.HANG_UP_MAX_DURATION


def test_zero_limits_switch_the_checks_off() -> None:
    dog = watchdog(silence_timeout_s=0, max_call_s=0)
    assert dog.check(10_000.0, agent_speaking=False) is None
