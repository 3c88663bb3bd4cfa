"""Who may read a service's ``/metrics``: anyone, or only a scraper that shows METRICS_TOKEN.

The figures name businesses by id (a queue's depth and oldest wait per business) and show each
one's volume: on a port the internet reaches, set ``METRICS_TOKEN`` and give Prometheus the
same value (``authorization: {credentials: ...}`` in its scrape config); every service's
``/metrics`` then answers 401 without it. Empty (the default) leaves them open, for a
Prometheus on a private network. ``/health`` and ``/ready`` stay open: they hold no figures.
"""

from __future__ import annotations

import hmac

#: The challenge a refused scrape is answered with.
CHALLENGE = 'Bearer realm="metrics"'
REFUSED_DETAIL = "/metrics needs the Authorization: Bearer METRICS_TOKEN header"


def metrics_allowed(authorization: str | None, token: str) -> bool:
    """Whether a request with this ``Authorization`` header may read the metrics."""
    if not token:
        return True
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def refused_body() -> dict[str, object]:
    """The 401's body, the services' error body."""
    # Here, not above: the worker's status server would import FastAPI with it at every start.
    from switchboard.common.http_errors import error_body

    return error_body(401, REFUSED_DETAIL)
