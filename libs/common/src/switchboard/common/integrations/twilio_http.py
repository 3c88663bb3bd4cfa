"""The ``twilio`` library's HTTP client, over one urllib3 pool instead of a requests session.

The library lets its caller bring the client that carries its requests (``twilio.http.
HttpClient``). Its own (``TwilioHttpClient``) goes through a requests session, whose per-request
machinery (preparing, hooks, cookies, environment merging) cost a third of each WhatsApp
send's CPU here and adds nothing for the one host this client talks to; this one hands the
same request to urllib3, on which requests itself is built, with the same body encoding
(form or JSON, lists as repeated fields), basic auth, timeout (connect and read) and no
redirects unless asked.

``https://api.twilio.com`` is rewritten to ``base_url`` (a local fake in tests). The proxy and
the CA bundle come from the environment with requests' rules (``HTTPS_PROXY``, ``NO_PROXY``,
``REQUESTS_CA_BUNDLE``…), read once when the client is built. Failures are urllib3's
(``urllib3.exceptions.HTTPError``): ``twilio_client`` tells a request that never left from
one that may have reached Twilio.
"""

from __future__ import annotations

import json
import logging
import os
from base64 import b64encode
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH, select_proxy
from twilio.http import HttpClient
from twilio.http.response import Response

from switchboard.common.integrations.twilio_rest import TWILIO_PUBLIC_BASE_URL

_JSON_TYPES = ("application/json", "application/scim+json")
#: Connections kept open to Twilio per process (at most one per thread sending at once).
_MAX_CONNECTIONS = 32


class Urllib3TwilioHttpClient(HttpClient):  # type: ignore[misc]  # twilio ships no types
    """Carries the library's requests to ``base_url`` through one urllib3 pool."""

    def __init__(self, base_url: str, timeout: float, logger: logging.Logger) -> None:
        super().__init__(logger, False, timeout)
        self._base_url = base_url.rstrip("/")
        self._pool = _pool_for(self._base_url)

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request and return the library's ``Response`` (status, text, headers)."""
        timeout = self.timeout if timeout is None else timeout
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        if url.startswith(TWILIO_PUBLIC_BASE_URL):
            url = self._base_url + url[len(TWILIO_PUBLIC_BASE_URL) :]
        sent = dict(headers or {})
        self.log_request({"method": method.upper(), "url": url, "params": params, "headers": sent})
        if params:
            url += ("&" if "?" in url else "?") + urlencode(_present(params), doseq=True)
        body = _body(sent, data)
        if auth is not None:
            token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            sent["Authorization"] = f"Basic {token}"
        response = self._pool.request(
            method.upper(),
            url,
            body=body,
            headers=sent,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            redirect=allow_redirects,
            retries=False,
        )
        self.log_response(response.status, response)
        return Response(
            int(response.status), response.data.decode("utf-8", "replace"), response.headers
        )


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that are set (requests leaves out None as well)."""
    return {key: value for key, value in values.items() if value is not None}


def _body(headers: dict[str, str], data: Mapping[str, Any] | None) -> bytes | None:
    """The body as the library's client would send it, setting its ``Content-Type``."""
    if data is None:
        return None
    if headers.get("Content-Type") in _JSON_TYPES:
        return json.dumps(data).encode()
    headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return urlencode(_present(data), doseq=True).encode()


def _pool_for(base_url: str) -> urllib3.PoolManager:
    """A pool for ``base_url``: through the environment's proxy for it, if any, verifying TLS
    with the environment's CA bundle (requests' rules, read once)."""
    found = requests.Session().merge_environment_settings(base_url, {}, None, None, None)
    verify = found["verify"]
    # One client serves every worker thread of the process: a pool smaller than the threads
    # sending at once would close each surplus connection after its request and open a new
    # one (a TLS handshake) for the next. Connections are opened only as threads need them.
    tls: dict[str, Any] = {"maxsize": _MAX_CONNECTIONS}
    if verify is False:
        tls["cert_reqs"] = "CERT_NONE"
    else:
        bundle = DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
        tls["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
    proxy = select_proxy(base_url, found["proxies"])
    if not proxy:
        return urllib3.PoolManager(**tls)
    credentials = urllib3.util.parse_url(proxy).auth
    proxy_headers = urllib3.make_headers(proxy_basic_auth=credentials) if credentials else None
    return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **tls)
