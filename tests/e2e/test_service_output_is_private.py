"""No service printed a private value the end-to-end tests used.

Runs after the tier's other tests (``conftest.py`` orders it last): their factories and tests
registered the phone numbers, API keys, lead names and e-mails, what callers said and wrote,
and push keys they used, and every service process they started its output file.
"""

from __future__ import annotations

import pytest

from tests.support import private_data

pytestmark = pytest.mark.e2e


def test_no_service_printed_a_private_value_the_tests_used() -> None:
    leaks = private_data.leaks()
    assert not leaks, "private values in the services' output:\n" + "\n".join(map(str, leaks[:50]))
