"""``python -m switchboard.scheduler``: the scheduler on its own, as its image runs it."""

from __future__ import annotations

from switchboard.common.service_start import (
    checked_settings,
    refusing_unusable_database,
    server_arguments,
)
from switchboard.scheduler.server import DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the options, check the environment, emit and serve until stopped."""
    parser = server_arguments(
        "python -m switchboard.scheduler",
        "The scheduler: periodic jobs and the outbox relay, with /health and /metrics.",
        DEFAULT_PORT,
    )
    parser.add_argument("modules", nargs="*", help="extra modules whose SCHEDULES run too")
    args = parser.parse_args(argv)
    checked_settings(parser.prog)
    with refusing_unusable_database(parser.prog):  # its start-up migration
        serve(args.host, args.port, args.modules)


if __name__ == "__main__":
    main()
