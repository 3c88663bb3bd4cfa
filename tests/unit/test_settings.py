import pytest
from pydantic import ValidationError

from switchboard.common.settings import Settings


def test_development_accepts_default_secrets() -> None:
    assert Settings(environment="development").admin_api_key == "dev-admin-key"


def test_production_refuses_a_default_secret_and_names_the_variable() -> None:
    with pytest.raises(ValidationError, match="ADMIN_API_KEY"):
        Settings(
            environment="production",
            internal_api_token="x",
            twilio_auth_token="y",
            media_token_secret="z",
            session_secret="w",
        )


def test_production_with_every_secret_set_is_accepted() -> None:
    settings = Settings(
        environment="production",
        admin_api_key="a" * 32,
        internal_api_token="b" * 32,
        twilio_auth_token="c" * 32,
        media_token_secret="d" * 32,
        session_secret="e" * 32,
        vapid_private_key="f" * 43,
    )
    assert settings.environment == "production"


def test_no_urls_means_embedded_sqlite_under_var_dir(tmp_path) -> None:
    settings = Settings(database_url="", amqp_url="", var_dir=tmp_path)
    assert settings.embedded
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve()}/switchboard.db"


def test_postgres_urls_use_the_psycopg3_driver() -> None:
    settings = Settings(database_url="postgresql://u@h/db")
    assert settings.effective_database_url == "postgresql+psycopg://u@h/db"
    assert not settings.embedded


SQL = "PostgreSQL (postgresql://user:password@host/db) or SQLite (sqlite:///path)"


@pytest.mark.parametrize(
    ("variable", "url", "problem"),
    [
        ("DATABASE_URL", "mysql://u:not-shown@h/db", f"DATABASE_URL: mysql:// is not {SQL}"),
        (
            "MIGRATION_DATABASE_URL",
            "owner:not-shown@h/db",
            f"MIGRATION_DATABASE_URL: not a URL of {SQL}",
        ),
        (
            "AMQP_URL",
            "redis://u:not-shown@h/0",
            "AMQP_URL: redis:// is not RabbitMQ (amqp://user:password@host/vhost)",
        ),
    ],
)
def test_a_url_switchboard_cannot_use_is_refused_in_one_line(
    tmp_path, monkeypatch: pytest.MonkeyPatch, variable: str, url: str, problem: str
) -> None:
    # before: a traceback (no MySQLdb, an unparsable URL, pika's unexpected scheme)
    from typer.testing import CliRunner

    from switchboard.cli.main import app
    from switchboard.common.settings import get_settings

    monkeypatch.setenv(variable, url)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"switchboard: refusing to start, the environment is not fit:\n  {problem}\n"
    )
