"""``switchboard run`` on other ports: the URLs the services need from each other follow the
ports unless the environment sets them, and the banner says where everything is."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.cli.embedded import banner
from switchboard.common.settings import Settings

PORTS = {"api": 9100, "gateway": 9101, "scheduler": 9102}


@pytest.fixture(autouse=True)
def _no_urls_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PUBLIC_BASE_URL", "API_BASE_URL", "API_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_other_ports_imply_the_gateway_and_api_urls() -> None:
    assert Settings().urls_for_ports("127.0.0.1", PORTS) == {
        "PUBLIC_BASE_URL": "http://127.0.0.1:9101",
        "API_BASE_URL": "http://127.0.0.1:9100",
    }


def test_a_url_set_in_the_environment_wins_over_the_port(monkeypatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://calls.example.com")
    assert Settings().urls_for_ports("127.0.0.1", PORTS) == {
        "API_BASE_URL": "http://127.0.0.1:9100"
    }


def test_a_url_set_in_a_dot_env_file_wins_too(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".env").write_text("API_BASE_URL=http://api.internal:8000\n")
    monkeypatch.chdir(tmp_path)
    assert "API_BASE_URL" not in Settings().urls_for_ports("127.0.0.1", PORTS)


def test_only_the_roles_served_imply_urls() -> None:
    assert Settings().urls_for_ports("127.0.0.1", {"gateway": 9101}) == {
        "PUBLIC_BASE_URL": "http://127.0.0.1:9101"
    }


@pytest.mark.parametrize(
    ("bound", "reached"),
    [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("10.1.2.3", "10.1.2.3")],
)
def test_a_server_bound_to_every_interface_is_reached_on_loopback(bound, reached) -> None:
    urls = Settings().urls_for_ports(bound, {"api": 9100})
    assert urls["API_BASE_URL"] == f"http://{reached}:9100"


def test_the_banner_gives_the_dashboard_the_key_and_the_cli_exports(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path,
        environment="development",
        public_base_url="http://127.0.0.1:9101",
        api_base_url="http://127.0.0.1:9100",
    )
    lines = banner(settings, "127.0.0.1", PORTS, "sbk_demo")
    text = "\n".join(lines)
    assert "Dashboard  http://127.0.0.1:9100/dashboard  (log in with the API key below)" in text
    # The gateway's root is a 404: the banner says what the address is for, and where it answers.
    assert "  Gateway    http://127.0.0.1:9101  (where Twilio calls; no page: /health)" in lines
    assert f"sbk_demo  (demo business +15550000000; kept in {tmp_path / 'demo-api-key'})" in text
    assert "dev-admin-key  (development default; set ADMIN_API_KEY" in text
    assert (
        "export API_BASE_URL=http://127.0.0.1:9100 PUBLIC_BASE_URL=http://127.0.0.1:9101 "
        "SWITCHBOARD_API_KEY=sbk_demo"
    ) in lines[-1]
    assert not any("[" in line and "/]" in line for line in lines), "no rich markup"


def test_the_banner_never_prints_a_secret_that_was_set(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path, admin_api_key="a-real-admin-key", twilio_auth_token="a-real-token"
    )
    text = "\n".join(banner(settings, "127.0.0.1", PORTS, "sbk_demo"))
    assert "a-real-admin-key" not in text and "a-real-token" not in text
    assert "set by ADMIN_API_KEY" in text


def test_the_banner_names_every_secret_still_at_its_development_default(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, environment="development", session_secret="s" * 40)
    lines = banner(settings, "127.0.0.1", PORTS, "sbk_demo")
    assert (
        "  Secrets    INTERNAL_API_TOKEN, MEDIA_TOKEN_SECRET, VAPID_PRIVATE_KEY: "
        "development defaults (production refuses them)"
    ) in lines
    assert " ADMIN_API_KEY=dev-admin-key" in lines[-1], "for `events list`"


def test_an_admin_key_that_was_set_is_not_exported(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, admin_api_key="a-real-admin-key")
    assert "ADMIN_API_KEY=" not in banner(settings, "127.0.0.1", PORTS, "sbk_demo")[-1]


def test_on_postgresql_the_export_line_names_the_database(tmp_path: Path) -> None:
    """Without it, `keys` and `create-business` in the other shell open the embedded database
    under var/ (another demo business, another key) and answer as if nothing were wrong."""
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/switchboard"
    settings = Settings(var_dir=tmp_path, database_url=url, amqp_url="amqp://127.0.0.1/")
    lines = banner(settings, "127.0.0.1", PORTS, "sbk_demo")
    assert lines[-1].startswith("    export API_BASE_URL=")
    assert lines[-1].endswith(f" DATABASE_URL={url}")


def test_a_database_password_is_asked_for_not_printed(tmp_path: Path) -> None:
    url = "postgresql+psycopg://switchboard:s3cret-pw@db.internal/switchboard"
    settings = Settings(var_dir=tmp_path, database_url=url, amqp_url="amqp://127.0.0.1/")
    lines = banner(settings, "127.0.0.1", PORTS, "sbk_demo")
    assert not any("s3cret-pw" in line for line in lines)
    assert "DATABASE_URL=" not in lines[-2]
    assert lines[-1] == (
        "    and this run's DATABASE_URL (not printed: it holds a password) "
        "for `keys` and `create-business`"
    )


def test_the_embedded_export_line_names_no_database(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, database_url="", amqp_url="")
    lines = banner(settings, "127.0.0.1", PORTS, "sbk_demo")
    assert "DATABASE_URL" not in "\n".join(lines)


def test_an_embedded_run_under_another_var_dir_exports_it(tmp_path: Path) -> None:
    """`keys` in the other shell would open ./var/switchboard.db otherwise."""
    settings = Settings(var_dir=tmp_path / "my var", database_url="", amqp_url="")
    lines = banner(settings, "127.0.0.1", PORTS, "sbk_demo")
    assert lines[-1].endswith(f" VAR_DIR='{tmp_path / 'my var'}'")


def test_an_embedded_run_under_var_exports_no_var_dir(tmp_path: Path) -> None:
    settings = Settings(var_dir=Path("var"), database_url="", amqp_url="")
    assert "VAR_DIR" not in banner(settings, "127.0.0.1", PORTS, "sbk_demo")[-1]


@pytest.mark.parametrize(
    ("database_url", "amqp_url", "mode"),
    [
        ("", "", "embedded (SQLite + in-process broker)"),
        ("postgresql://postgres@127.0.0.1/sb", "amqp://127.0.0.1/", "PostgreSQL + RabbitMQ"),
        ("postgresql://postgres@127.0.0.1/sb", "", "PostgreSQL + in-process broker"),
        ("", "amqp://127.0.0.1/", "SQLite + RabbitMQ"),
    ],
)
def test_the_banner_names_the_database_and_the_broker_the_run_uses(
    tmp_path: Path, database_url: str, amqp_url: str, mode: str
) -> None:
    settings = Settings(var_dir=tmp_path, database_url=database_url, amqp_url=amqp_url)
    assert banner(settings, "127.0.0.1", PORTS, "sbk_demo")[0] == f"Switchboard is up — {mode}"
