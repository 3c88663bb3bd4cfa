"""On PostgreSQL (the webhook's one-statement store): a moved number routes at once."""

from __future__ import annotations

import pytest

from tests.support.factories import make_business, unique_phone
from tests.unit.api.test_routing_follows_moves import (
    move_number,
    owner_and_answerer,
    send_whatsapp,
    signed,
)

pytestmark = pytest.mark.integration


def test_a_message_to_a_moved_number_goes_to_its_new_business_at_once(client, admin, pg) -> None:
    old, new = make_business(), make_business()
    number = old.phone_number
    send_whatsapp(client, pg, number, f"SM{unique_phone()[1:]}a")  # the lookup is warm
    move_number(client, admin, number, new.id, old.id)
    sid = f"SM{unique_phone()[1:]}b"
    send_whatsapp(client, pg, number, sid)
    assert owner_and_answerer(sid) == (new.id, new.id)


def test_a_message_to_a_number_moved_to_nobody_is_a_404(client, admin, pg) -> None:
    old = make_business()
    number = old.phone_number
    send_whatsapp(client, pg, number, f"SM{unique_phone()[1:]}c")  # the lookup is remembered
    freed = client.patch(
        f"/api/v1/businesses/{old.id}", json={"phone_number": unique_phone()}, headers=admin
    )
    assert freed.status_code == 200
    params = {"MessageSid": "SM0404", "From": "whatsapp:+15550000404", "To": number}
    response = client.post("/webhooks/twilio/whatsapp", data=params, headers=signed(pg, params))
    assert response.status_code == 404 and "no business" in response.json()["detail"]
