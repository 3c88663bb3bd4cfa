"""``python -m switchboard.cli`` is the ``switchboard`` command."""

from switchboard.cli.main import app

app()
