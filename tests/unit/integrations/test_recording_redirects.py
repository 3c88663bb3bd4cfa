"""Recording downloads follow Twilio's redirect to its media storage only through the
outbound-address policy: each hop is checked and pinned, and credentials stay behind."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from switchboard.common.integrations.address_policy import AddressPolicy
from switchboard.common.integrations.twilio_client import TwilioRestClient
from switchboard.common.integrations.twilio_rest import TwilioPermanentError
from tests.fakes.server import FakeServer
from tests.fakes.twilio_rest import ACCOUNT_SID, AUTH_TOKEN
from tests.support.recordings import downloaded

RECORDING_SID = "RE" + "0" * 32
AUDIO = b"RIFF-not-really-a-wav"


class RedirectingMedia(FakeServer):
    """Twilio's recording resource answering 302 to a media host, and that media host."""

    rules = (
        Rule("/2010-04-01/Accounts/<account>/Recordings/<name>", endpoint="recording"),
        Rule("/media/<name>", endpoint="media"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.media_host = ""
        self.media_requests: list[dict[str, str]] = []

    def handle_recording(self, request: Request, account: str, name: str) -> Response:
        port = self.url.rsplit(":", 1)[1]
        return Response(
            status=302, headers={"Location": f"http://{self.media_host}:{port}/media/{name}"}
        )

    def handle_media(self, request: Request, name: str) -> Response:
        with self.recording():
            self.media_requests.append(dict(request.headers))
        return Response(AUDIO, mimetype="audio/x-wav")


@pytest.fixture
def media() -> Iterator[RedirectingMedia]:
    with RedirectingMedia.running() as server:
        yield server


def resolving_to_loopback(name: str):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        if host != name:
            raise OSError(f"{host}: name not known")
        return ["127.0.0.1"]

    return resolve


def client(media: RedirectingMedia, policy: AddressPolicy) -> TwilioRestClient:
    return TwilioRestClient(ACCOUNT_SID, AUTH_TOKEN, base_url=media.url, timeout=3, policy=policy)


def test_a_redirect_to_a_private_address_is_refused_before_connecting(
    media: RedirectingMedia,
) -> None:
    media.media_host = "media.internal.test"
    policy = AddressPolicy(resolver=resolving_to_loopback("media.internal.test"))

    with pytest.raises(TwilioPermanentError, match="media.internal.test resolves to 127.0.0.1"):
        downloaded(client(media, policy), RECORDING_SID)

    assert media.media_requests == []


def test_a_redirect_to_an_allowed_host_is_pinned_and_gets_no_credentials(
    media: RedirectingMedia,
) -> None:
    # The allow-listed name stands for Twilio's public media storage.
    media.media_host = "media.example.test"
    policy = AddressPolicy(
        ["media.example.test"], resolver=resolving_to_loopback("media.example.test")
    )

    assert downloaded(client(media, policy), RECORDING_SID) == AUDIO

    [headers] = media.media_requests
    assert headers["Host"].startswith("media.example.test:")
    assert "Authorization" not in headers
