"""The states of a webhook delivery's row, one vocabulary for the delivery log and the API.

``pending`` until its first attempt and while an attempt is under way (one whose worker died
is ``failed`` with an unknown outcome); then ``delivered``, ``failed`` (worth another try),
``rejected`` (the endpoint refused it for good) or ``refused`` (its address is not one we
send to). The API's ``?status=`` filter of an endpoint's deliveries takes these only.
"""

from __future__ import annotations

from typing import Literal, get_args

DeliveryStatus = Literal["pending", "delivered", "failed", "rejected", "refused"]
#: Every state a delivery row may be in.
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)
