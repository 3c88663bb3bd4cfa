"""The ``switchboard`` command (``python -m switchboard.cli`` too)."""

from switchboard.common.startup_heap import collector_paused


def main() -> None:
    """Load the command line with the collector paused (``startup_heap``), then run it."""
    with collector_paused():
        from switchboard.cli.main import app
    app()


if __name__ == "__main__":
    main()
