"""``/metrics`` names each queue's businesses with the most jobs waiting, and sums the rest as
``other``: the label sets stay bounded however many businesses there are."""

from __future__ import annotations

from datetime import timedelta

from switchboard.common.db.base import utcnow
from switchboard.common.jobs import enqueue
from switchboard.common.jobs.catalog import ANALYZE_CONVERSATION, PROCESS_WHATSAPP_WEBHOOK
from switchboard.common.metrics import OTHER, LedgerCollector, top_businesses
from tests.support.environment import configured
from tests.support.factories import make_business


def test_the_top_businesses_of_each_queue_are_named_and_the_rest_are_other() -> None:
    now = utcnow()
    ago = lambda s: now - timedelta(seconds=s)  # noqa: E731
    rows = [
        ("analysis", 1, 500, ago(30)),
        ("analysis", 2, 7, ago(90)),
        ("analysis", 3, 2, ago(5)),
        ("analysis", 4, 1, ago(400)),
        ("whatsapp", 2, 3, ago(1)),
    ]
    found = {(q, b): (d, round(a)) for q, b, d, a in top_businesses(rows, 2, now)}
    assert found == {
        ("analysis", "1"): (500, 30),
        ("analysis", "2"): (7, 90),
        ("analysis", OTHER): (3, 400),  # businesses 3 and 4: depths summed, the oldest age
        ("whatsapp", "2"): (3, 1),
    }
    assert top_businesses(rows, 0, now)[0][:3] == ("analysis", OTHER, 510)


def test_metrics_show_waiting_jobs_per_business_with_other_beyond_the_top(embedded) -> None:
    businesses = [make_business() for _ in range(4)]
    for count, business in zip((5, 3, 2, 1), businesses, strict=True):
        for _ in range(count):
            enqueue(ANALYZE_CONVERSATION, business_id=business.id)
    enqueue(PROCESS_WHATSAPP_WEBHOOK, business_id=businesses[3].id, message_id=1)
    with configured(metrics_top_businesses="2"):
        families = {m.name: m for m in LedgerCollector().collect()}
    depth = {
        (s.labels["queue"], s.labels["business"]): s.value
        for s in families["switchboard_business_queue_depth"].samples
    }
    first, second, third, fourth = (str(b.id) for b in businesses)
    assert depth == {
        ("analysis", first): 5,
        ("analysis", second): 3,
        ("analysis", OTHER): 3,
        ("whatsapp", fourth): 1,
    }
    ages = families["switchboard_business_queue_oldest_age_seconds"].samples
    assert {(s.labels["queue"], s.labels["business"]) for s in ages} == set(depth)
    assert third not in {s.labels["business"] for s in ages}
