"""The outbound-address policy: where a request to an address a tenant chose may go.

Webhooks, Web Push and the redirects of recording downloads all go through it. An address is
forbidden when it is not public unicast: loopback, private, link-local, CGNAT, site-local,
unspecified, multicast, reserved or documentation ranges, IPv4-mapped and -compatible IPv6,
and the IPv6 forms that carry an IPv4 address (6to4, Teredo, NAT64) when the carried address
is forbidden. The table is ours rather than ``ipaddress``'s ``is_private``/``is_global``, whose
answers change between Python versions. ``WEBHOOK_ALLOWLIST`` (hosts, IPs, CIDRs; empty by
default, so nothing private is reachable in production unless an operator names it) admits
exceptions, which is how the tests and the embedded setup reach their local fakes.

The policy is applied twice: when an address is registered (a 422 naming the field) and when
a connection is opened. :func:`pinned_client` resolves each new connection's host once,
refuses it if any answer is forbidden, and connects to the checked address; the URL keeps its
host name, so the ``Host`` header, TLS server name and certificate check are unchanged, and a
DNS answer that changes between the check and the connect cannot move the request. Every
redirect hop opens its connection through the same check.

A port is refused when it is outside 1-65535 or one of the Fetch standard's "bad ports"
(:data:`BAD_PORTS`: SMTP, IRC, SIP …, whose servers could take a POST for their own protocol);
any other port is allowed, since receivers such as n8n (5678) listen on their own. Each kind
of URL has its schemes (:data:`WEBHOOK_SCHEMES`, :data:`PUSH_SCHEMES`), held by
:meth:`AddressPolicy.checked_url` at registration and before every request. The clients keep
no cookies, and :func:`post_reading_at_most` reads at most a few bytes of an answer: a
receiver the tenant chose could otherwise stream gigabytes into a worker's memory.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from switchboard.common.errors import InvalidReferenceError
from switchboard.common.integrations import config
from switchboard.common.integrations.errors import PermanentIntegrationError
from switchboard.common.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``: the system resolver, or a table in tests.
Resolver = Callable[[str, int], Sequence[str]]

_V4_RULES = (
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "reserved"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "CGNAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
_V6_RULES = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::/96", "IPv4-compatible"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "reserved"),
    ("2001::/23", "reserved"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "private"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_V4_TABLE = [(ipaddress.IPv4Network(net), reason) for net, reason in _V4_RULES]
_V6_TABLE = [(ipaddress.IPv6Network(net), reason) for net, reason in _V6_RULES]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


#: The Fetch standard's bad ports (https://fetch.spec.whatwg.org/#bad-port), which browsers
#: refuse for the same reason: what listens there is not HTTP and may act on a request's lines.
BAD_PORTS = frozenset(
    {0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95}
    | {101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161}
    | {179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563}
    | {587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060}
    | {5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080}
)


#: The schemes each kind of outgoing URL may use, checked when it is registered and when it is
#: sent. Web Push is https (RFC 8030); plain http is admitted for it only to a host the
#: allow-list names (an operator's own relay; the tests' fake push service).
WEBHOOK_SCHEMES = ("http", "https")
PUSH_SCHEMES = ("https",)


class DestinationRefused(PermanentIntegrationError):
    """The destination is, or resolves to, an address the policy forbids."""


class RefusedAddressError(InvalidReferenceError):
    """A registered URL the policy refuses (HTTP 422 naming the field)."""


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a request must not go to ``address`` (``"loopback"`` …), or None when it is public."""
    if isinstance(address, ipaddress.IPv4Address):
        return next((reason for net, reason in _V4_TABLE if address in net), None)
    address = ipaddress.IPv6Address(address.packed)  # drop a zone id (fe80::1%eth0)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        kind, carried = embedded
        inner = forbidden_reason(carried)
        return f"{kind} (carrying {inner} {carried})" if inner else None
    reason = next((reason for net, reason in _V6_TABLE if address in net), None)
    if reason is None and address not in _GLOBAL_UNICAST:
        return "reserved"
    return reason


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address a translation form carries: NAT64, 6to4, or a Teredo client."""
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR and address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in _TEREDO and address.teredo is not None:
        return "Teredo", address.teredo[1]
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # a name IDNA cannot encode resolves to nothing
        raise OSError(f"{host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class AddressPolicy:
    """Public addresses only, plus an allow-list of hosts, IPs and CIDRs."""

    def __init__(self, allowlist: Iterable[str] = (), *, resolver: Resolver = system_resolver):
        self._hosts: set[str] = set()
        self._networks: list[Network] = []
        for entry in allowlist:
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(_normal(entry))
        self._resolve = resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        """The process's policy: ``WEBHOOK_ALLOWLIST`` and the system resolver."""
        return cls(config.webhook_allowlist(settings))

    def trusting(self, *hosts: str) -> AddressPolicy:
        """This policy, also admitting ``hosts`` by name (an address the operator configured)."""
        trusted = AddressPolicy(resolver=self._resolve)
        trusted._networks = list(self._networks)
        trusted._hosts = self._hosts | {_normal(host) for host in hosts}
        return trusted

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` is refused, or None when it is public or allow-listed."""
        if any(address in network for network in self._networks):
            return None
        return forbidden_reason(address)

    def checked_address(self, host: str, port: int) -> str:
        """Resolve ``host`` once and return the address to connect to, or refuse.

        Raises ``DestinationRefused`` for a refused port or naming the first forbidden answer,
        or ``OSError`` when the name does not resolve.
        """
        if port in BAD_PORTS or not 0 < port < 65536:
            raise DestinationRefused(
                f"port {port} is not reachable: it is not an HTTP port (the Fetch standard's "
                "bad ports and ports outside 1-65535 are refused)"
            )
        host = _normal(host)
        literal = _literal(host)
        if literal is not None:
            answers: list[IPAddress] = [literal]
        else:
            answers = [ipaddress.ip_address(answer) for answer in self._resolve(host, port)]
        if not answers:
            raise OSError(f"{host} did not resolve")
        if host not in self._hosts:
            for answer in answers:
                self._refuse(host, answer, named=literal is None)
        return str(answers[0])

    def checked_url(self, url: str, *, schemes: Sequence[str]) -> httpx.URL:
        """The parsed URL, or ``DestinationRefused`` when it is not a URL, has no host, or
        uses a scheme outside ``schemes`` (plain http being admitted to an allow-listed host).

        At registration and again before every request: a URL stored another way (or before
        a rule changed) is held to the same rule.
        """
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise DestinationRefused(f"not a valid URL: {exc}") from exc
        host = target.raw_host.decode("ascii")
        allowed = target.scheme in schemes or (target.scheme == "http" and self._names(host))
        if not allowed or not host:
            raise DestinationRefused(f"only {' or '.join(schemes)} URLs with a host are accepted")
        return target

    def check_url(self, url: str, *, schemes: Sequence[str] = WEBHOOK_SCHEMES) -> None:
        """At registration: refuse a URL ``checked_url`` refuses or whose host or port is
        forbidden.

        A name that does not resolve now is accepted: it is checked again at every connect.
        """
        target = self.checked_url(url, schemes=schemes)
        host = target.raw_host.decode("ascii")
        try:
            self.checked_address(host, target.port or _default_port(target.scheme))
        except OSError:
            return

    def require_registrable(
        self, url: str, *, field: str, schemes: Sequence[str] = WEBHOOK_SCHEMES
    ) -> None:
        """``check_url`` for a request's ``field``: ``RefusedAddressError`` when refused."""
        try:
            self.check_url(url, schemes=schemes)
        except DestinationRefused as exc:
            raise RefusedAddressError(field, str(exc)) from exc

    def _names(self, host: str) -> bool:
        """Whether the allow-list names ``host``: by name, or as an address in its networks."""
        literal = _literal(host)
        if literal is None:
            return _normal(host) in self._hosts
        return any(literal in network for network in self._networks)

    def _refuse(self, host: str, address: IPAddress, *, named: bool) -> None:
        reason = self.refusal(address)
        if reason is None:
            return
        where = f"{host} resolves to {address}" if named else str(address)
        raise DestinationRefused(
            f"{where}, a {reason} address, is not reachable: only public addresses are "
            "(an operator can add it to WEBHOOK_ALLOWLIST)"
        )


def _normal(host: str) -> str:
    return host.lower().rstrip(".")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class _PinnedBackend(httpcore.SyncBackend):
    """Opens each TCP connection to the address the policy checked for the URL's host."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            address = self._policy.checked_address(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, its connections opened through the policy.

    Given as the client's transport, it also keeps httpx from using proxies from the
    environment, which would connect in our place.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__()
        # HTTPTransport takes no network backend: its pool is rebuilt with one that
        # resolves through the policy and connects to the checked address.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_PinnedBackend(policy)
        )


def pinned_client(
    policy: AddressPolicy, *, timeout: float, follow_redirects: bool = False
) -> httpx.Client:
    """An httpx client whose every connection, redirect hops included, passes ``policy``.

    It keeps no cookies: one client serves every tenant's requests, and a cookie one tenant's
    receiver set would otherwise go with another tenant's requests to that host.
    """
    return httpx.Client(
        transport=PinnedTransport(policy),
        timeout=timeout,
        follow_redirects=follow_redirects,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


@dataclass(frozen=True)
class Answer:
    """What a receiver answered: its status, the start of its body and its headers."""

    status_code: int
    text: str
    headers: httpx.Headers = field(default_factory=httpx.Headers)


def post_reading_at_most(
    client: httpx.Client, url: str | httpx.URL, limit: int, **request: Any
) -> Answer:
    """POST and read at most ``limit`` bytes of the answer, undecoded, then drop the connection.

    The body is read raw (and ``identity`` asked for) so a compressed answer cannot inflate
    past the limit while being decoded. ``request`` is passed to ``client.stream``.
    """
    headers = {"Accept-Encoding": "identity", **request.pop("headers", {})}
    start = bytearray()
    with client.stream("POST", url, headers=headers, **request) as response:
        for chunk in response.iter_raw():
            start += chunk
            if len(start) >= limit:
                break
    text = _text(bytes(start[:limit]), response.charset_encoding)
    return Answer(response.status_code, text, response.headers)


def _text(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")
