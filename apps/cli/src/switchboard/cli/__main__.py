"""The ``switchboard`` command (``python -m switchboard.cli`` too)."""

from switchboard.common.startup_imports import startup_imports


def main() -> None:
    """Load the command line as a service starts (``startup_imports``), then run it."""
    with startup_imports():
        from switchboard.cli.main import app
    app()


if __name__ == "__main__":
    main()
