"""The API's resource, isolation and settings tests, run again on PostgreSQL with RLS."""

from __future__ import annotations

import pytest

from tests.unit.api.test_business_settings_api import (  # noqa: F401 - collected here too
    test_admin_moving_a_business_to_a_taken_number_is_a_409,
    test_changing_agent_settings_rebuilds_the_prompt_and_rewarms,
)
from tests.unit.api.test_conversations_api import (  # noqa: F401
    test_sending_a_message_stores_it_and_enqueues_the_send_job_together,
)
from tests.unit.api.test_isolation_matrix import (  # noqa: F401
    owned,
    test_another_business_s_object_is_404_and_stays_untouched,
    test_filters_naming_a_foreign_lead_find_nothing,
    test_lists_never_show_another_business_s_rows,
)
from tests.unit.api.test_leads_api import (  # noqa: F401
    test_a_csv_with_errors_imports_nothing_and_names_line_and_field,
    test_a_lead_is_created_read_updated_and_deleted,
    test_a_second_lead_for_the_same_phone_is_a_409,
    test_csv_import_creates_and_updates_leads,
    test_leads_filter_by_status_and_search_name_phone_or_email,
)
from tests.unit.api.test_webhooks_api import (  # noqa: F401
    test_a_test_event_is_enqueued_for_the_endpoint_s_kind,
)

pytestmark = pytest.mark.integration
