"""Test data factories."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from switchboard.domain.businesses.accounts import create_business
from tests.support import private_data

_numbers = itertools.count(random.randint(1_000_000, 8_000_000))


def unique_phone() -> str:
    """A fresh E.164 number."""
    number = f"+1555{next(_numbers):07d}"
    private_data.register(number)
    return number


@dataclass(frozen=True)
class TestBusiness:
    __test__ = False
    id: int
    api_key: str
    phone_number: str
    #: The id of ``api_key`` (a push subscription's ``api_key_id``).
    api_key_id: int = 0


def make_business(name: str = "Test Business") -> TestBusiness:
    """Create a business and return its id, key and number."""
    phone = unique_phone()
    business, key = create_business(name, phone)
    private_data.register(key.key)
    return TestBusiness(business.id, key.key, phone, key.id)
