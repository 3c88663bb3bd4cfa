"""``python -m switchboard.api``: the API on its own, as its container image runs it."""

from __future__ import annotations

from switchboard.api.server import DEFAULT_PORT, serve
from switchboard.common.service_start import checked_settings, server_arguments


def main(argv: list[str] | None = None) -> None:
    """Parse the options, check the environment, serve until stopped."""
    parser = server_arguments(
        "python -m switchboard.api", "The REST API, WhatsApp webhook and dashboard.", DEFAULT_PORT
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    args = parser.parse_args(argv)
    checked_settings(parser.prog)
    serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
