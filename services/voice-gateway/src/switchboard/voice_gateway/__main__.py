"""``python -m switchboard.voice_gateway``: the gateway on its own, as its image runs it."""

from __future__ import annotations

from switchboard.common.service_start import checked_settings, server_arguments
from switchboard.voice_gateway.server import DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the options, check the environment, serve calls until stopped."""
    parser = server_arguments(
        "python -m switchboard.voice_gateway",
        "The voice gateway: Twilio webhooks and Media Streams.",
        DEFAULT_PORT,
    )
    args = parser.parse_args(argv)
    serve(args.host, args.port, checked_settings(parser.prog))


if __name__ == "__main__":
    main()
