from switchboard.common.logging import redact


def test_bearer_tokens_api_keys_and_url_passwords_are_masked() -> None:
    text = "Bearer abc.def sk-1234567890abcd sbk_abcdefghijkl postgresql://u:hunter2@db/x token=xyz"
    masked = redact(text)
    for secret in ("abc.def", "1234567890abcd", "abcdefghijkl", "hunter2", "xyz"):
        assert secret not in masked


def test_ordinary_text_is_left_alone() -> None:
    assert redact("lead 42 created for +15551234567") == "lead 42 created for +15551234567"


def test_a_url_password_holding_an_at_sign_is_masked_whole() -> None:
    masked = redact("cannot reach http://ops:p@ss@db.internal:5432/app (timed out)")
    assert masked == "cannot reach http://ops:***@db.internal:5432/app (timed out)"
