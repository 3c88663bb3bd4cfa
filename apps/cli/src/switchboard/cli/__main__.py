"""The ``switchboard`` command (``python -m switchboard.cli`` too)."""

from switchboard.common.startup_imports import startup_imports


def main() -> None:
    """Load the command line as a service starts (``startup_imports``), give the options that
    come from the environment what ``.env`` sets (``cli.dotenv``), then run it."""
    with startup_imports():
        from switchboard.cli.dotenv import read_dotenv_options
        from switchboard.cli.main import app
    read_dotenv_options()
    app()


if __name__ == "__main__":
    main()
