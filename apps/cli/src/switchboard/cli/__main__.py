"""The ``switchboard`` command (``python -m switchboard.cli`` too)."""

import sys

from switchboard.common.startup_imports import startup_imports


def main() -> None:
    """Load the command line as a service starts (``startup_imports``), give the options that
    come from the environment what ``.env`` sets (``cli.dotenv``), then run it. A ``.env``
    that is not UTF-8 is one line and exit 2 (the settings' reader raised a traceback), but
    for ``--help``, which reads no setting."""
    with startup_imports():
        from switchboard.cli.dotenv import read_dotenv_options
        from switchboard.cli.main import app
        from switchboard.common.settings import EnvFileError
    try:
        read_dotenv_options()
    except EnvFileError as exc:
        if len(sys.argv) > 1 and "--help" not in sys.argv[1:]:
            from switchboard.cli.api_client import say_error
            from switchboard.cli.exit_codes import REFUSED

            say_error(str(exc))
            raise SystemExit(REFUSED) from None
    app()


if __name__ == "__main__":
    main()
