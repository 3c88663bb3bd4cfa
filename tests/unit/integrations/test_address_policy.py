"""The outbound-address policy: which addresses and ports are forbidden, registration checks,
connections pinned to the checked address (DNS rebinding cannot move them), and clients that
keep no cookies between tenants."""

from __future__ import annotations

import ipaddress
import select
import socket
from collections.abc import Callable, Iterator, Sequence

import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from switchboard.common.integrations.address_policy import (
    BAD_PORTS,
    AddressPolicy,
    DestinationRefused,
    RefusedAddressError,
    forbidden_reason,
)
from switchboard.common.integrations.webhooks_out import (
    HttpWebhookSender,
    WebhookDestinationRefused,
)
from tests.fakes.server import FakeServer
from tests.fakes.webhook_receiver import SECRET, FakeWebhookReceiver


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.10", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("fec0::1", "site-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.1.2.3", "reserved"),
        ("198.18.0.1", "reserved"),
        ("100::1", "reserved"),
        ("2001:2::1", "reserved"),
        ("4000::1", "reserved"),
        ("192.0.2.1", "documentation"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "IPv4-mapped"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("2002:a00:1::1", "6to4 (carrying private 10.0.0.1)"),
        ("2002:7f00:1::", "6to4 (carrying loopback 127.0.0.1)"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo (carrying private 10.0.0.1)"),
        ("64:ff9b::a00:1", "NAT64 (carrying private 10.0.0.1)"),
        ("64:ff9b::7f00:1", "NAT64 (carrying loopback 127.0.0.1)"),
        ("64:ff9b::a9fe:a9fe", "NAT64 (carrying link-local 169.254.169.254)"),
        ("64:ff9b:1::808:808", "local-use NAT64"),
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("2002:808:808::1", None),
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_each_kind_of_non_public_address_is_forbidden_and_public_ones_are_not(
    address: str, reason: str | None
) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def table(answers: dict[str, list[str]]) -> Callable[[str, int], Sequence[str]]:
    """A resolver answering from a table; an unknown name does not resolve."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise OSError(f"{host}: name not known")
        return answers[host]

    return resolve


def test_a_host_with_any_forbidden_answer_is_refused_naming_the_address() -> None:
    policy = AddressPolicy(resolver=table({"hooks.example.com": ["93.184.216.34", "10.0.0.7"]}))

    with pytest.raises(
        DestinationRefused, match=r"hooks.example.com resolves to 10.0.0.7, a private"
    ):
        policy.checked_address("hooks.example.com", 443)


def test_a_public_host_is_pinned_to_its_first_checked_answer() -> None:
    policy = AddressPolicy(resolver=table({"hooks.example.com": ["93.184.216.34", "8.8.8.8"]}))

    assert policy.checked_address("hooks.example.com.", 443) == "93.184.216.34"


def test_the_allowlist_admits_hosts_by_name_and_addresses_by_cidr() -> None:
    answers = {
        "n8n.internal": ["10.0.0.5"],
        "other.internal": ["10.9.0.5"],
        "db.internal": ["192.168.0.2"],
    }
    policy = AddressPolicy(["n8n.internal", "10.9.0.0/16"], resolver=table(answers))

    assert policy.checked_address("n8n.internal", 80) == "10.0.0.5"
    assert policy.checked_address("other.internal", 80) == "10.9.0.5"
    with pytest.raises(DestinationRefused):
        policy.checked_address("db.internal", 80)


def test_registration_refuses_forbidden_literals_and_names_and_accepts_unresolved_ones() -> None:
    policy = AddressPolicy(resolver=table({"internal.example": ["10.0.0.7"]}))

    for url in ("http://127.0.0.1:9/x", "https://[2002:a00:1::1]/x", "http://internal.example/x"):
        with pytest.raises(RefusedAddressError) as refused:
            policy.require_registrable(url, field="url")
        assert refused.value.field == "url"
    with pytest.raises(RefusedAddressError, match="only https URLs"):
        policy.require_registrable("http://push.example/x", field="endpoint", schemes=("https",))
    policy.require_registrable("https://not-yet-registered.example/x", field="url")


def test_an_https_only_url_may_be_plain_http_to_a_host_the_allow_list_names() -> None:
    policy = AddressPolicy(["push.internal", "10.0.0.0/8"], resolver=table({}))

    policy.require_registrable("http://push.internal/x", field="endpoint", schemes=("https",))
    policy.require_registrable("http://10.1.2.3/x", field="endpoint", schemes=("https",))
    with pytest.raises(RefusedAddressError, match="only https URLs"):
        policy.require_registrable("http://push.example/x", field="endpoint", schemes=("https",))


@pytest.mark.parametrize("port", [25, 22, 6667, 10080, 65536])
def test_a_bad_port_is_refused_on_any_host_even_an_allow_listed_or_unresolved_one(
    port: int,
) -> None:
    policy = AddressPolicy(["127.0.0.1"], resolver=table({"hooks.example.com": ["8.8.8.8"]}))

    for host in ("hooks.example.com", "127.0.0.1", "8.8.8.8"):
        with pytest.raises(DestinationRefused, match=f"port {port} is not reachable"):
            policy.checked_address(host, port)
    with pytest.raises(RefusedAddressError, match=f"port {port}"):
        policy.require_registrable(f"https://not-yet-registered.example:{port}/x", field="url")


@pytest.mark.parametrize("port", [80, 443, 5678, 8080, 8443, 65535])
def test_other_ports_are_allowed(port: int) -> None:
    policy = AddressPolicy(resolver=table({"hooks.example.com": ["8.8.8.8"]}))

    assert policy.checked_address("hooks.example.com", port) == "8.8.8.8"


# --- connections -----------------------------------------------------------------------------


class Rebinding:
    """A DNS server whose answer for one name changes: each call gives the next answer."""

    def __init__(self, host: str, *answers: str) -> None:
        self.host = host
        self.answers = list(answers)
        self.asked = 0

    def __call__(self, host: str, port: int) -> Sequence[str]:
        if host != self.host:
            raise OSError(f"{host}: name not known")
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [answer]


@pytest.fixture
def listening_on_a_bad_port() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1 on the first free bad port a user may bind (IRC, SIP …)."""
    for port in sorted(p for p in BAD_PORTS if p >= 1024):
        listener = socket.socket()
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        listener.listen()
        with listener:
            yield listener
        return
    pytest.skip("every unprivileged bad port is taken")


def test_a_delivery_to_a_bad_port_is_refused_without_connecting(
    listening_on_a_bad_port: socket.socket,
) -> None:
    port = listening_on_a_bad_port.getsockname()[1]

    with pytest.raises(WebhookDestinationRefused, match=f"port {port} is not reachable"):
        HttpWebhookSender(AddressPolicy(["127.0.0.1"]), timeout=3).send(
            f"http://127.0.0.1:{port}/hook", {"a": 1}, SECRET
        )

    # A connection attempt would have completed in the listener's backlog before send ended.
    assert select.select([listening_on_a_bad_port], [], [], 0)[0] == []


def test_dns_rebinding_after_registration_is_refused_at_connect_time(
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    dns = Rebinding("hooks.rebind.test", "93.184.216.34", "127.0.0.1")
    policy = AddressPolicy(resolver=dns)
    url = webhook_receiver.url_for("n8n").replace("127.0.0.1", "hooks.rebind.test")
    policy.require_registrable(url, field="url")  # public when registered

    with pytest.raises(WebhookDestinationRefused, match="resolves to 127.0.0.1, a loopback"):
        HttpWebhookSender(policy, timeout=3).send(url, {"a": 1}, SECRET)

    assert webhook_receiver.received == []


def test_the_connection_goes_to_the_checked_address_not_to_a_second_answer(
    webhook_receiver: FakeWebhookReceiver,
) -> None:
    # 127.0.0.1 stands for a public address (allow-listed); the next answer is private.
    dns = Rebinding("hooks.rebind.test", "127.0.0.1", "10.255.255.1")
    policy = AddressPolicy(["127.0.0.1/32"], resolver=dns)
    url = webhook_receiver.url_for("n8n").replace("127.0.0.1", "hooks.rebind.test")

    attempt = HttpWebhookSender(policy, timeout=3).send(url, {"a": 1}, SECRET)

    assert attempt.outcome == "delivered" and dns.asked == 1
    [received] = webhook_receiver.received
    assert received.headers["Host"] == url.split("/")[2]


class CookieSetter(FakeServer):
    """A receiver whose answers set a cookie; it records the ``Cookie`` header of each POST."""

    rules = (Rule("/<name>", methods=["POST"], endpoint="hook"),)

    def __init__(self) -> None:
        super().__init__()
        self.cookies: list[str | None] = []

    def handle_hook(self, request: Request, name: str) -> Response:
        with self.recording():
            self.cookies.append(request.headers.get("Cookie"))
        response = Response("ok")
        response.set_cookie("planted", f"by-{name}")
        return response


def test_a_cookie_one_receiver_sets_is_not_sent_with_the_next_request() -> None:
    sender = HttpWebhookSender(AddressPolicy(["127.0.0.1"]), timeout=3)

    with CookieSetter.running() as receiver:
        for tenant in ("tenant-a", "tenant-b"):
            sender.send(f"{receiver.url}/{tenant}", {"a": 1}, SECRET)

    assert receiver.cookies == [None, None]
