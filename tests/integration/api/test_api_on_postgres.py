"""The API's resource, isolation and settings tests, run again on PostgreSQL with RLS."""

from __future__ import annotations

import pytest

from switchboard.common.db.engine import get_engine
from tests.unit.api.test_business_settings_api import (  # noqa: F401 - collected here too
    test_admin_moving_a_business_to_a_taken_number_is_a_409,
    test_changing_agent_settings_rebuilds_the_prompt_and_rewarms,
)
from tests.unit.api.test_conversations_api import (  # noqa: F401
    test_sending_a_message_stores_it_and_enqueues_the_send_job_together,
)
from tests.unit.api.test_dashboard_isolation_matrix import (  # noqa: F401
    test_a_bulk_action_on_another_business_s_jobs_acts_on_none,
    test_a_run_over_another_business_s_lead_is_refused_as_a_missing_lead,
    test_another_business_s_object_is_404_on_the_console_and_stays_untouched,
    theirs,
)
from tests.unit.api.test_erasures_api import (  # noqa: F401
    test_a_number_not_in_e164_is_a_422_naming_phone,
    test_a_repeat_while_unfinished_answers_the_same_erasure_and_queues_nothing,
    test_a_request_is_accepted_queued_and_shown_without_its_number,
    test_deleting_a_lead_still_takes_it_out_of_its_runs,
    test_the_database_holds_one_unfinished_erasure_per_number_and_business,
)
from tests.unit.api.test_isolation_matrix import (  # noqa: F401
    owned,
    test_a_body_naming_another_business_s_lead_is_refused_as_a_missing_one,
    test_a_csv_naming_another_business_s_lead_creates_the_caller_s_own,
    test_a_range_of_another_business_s_recording_is_404_as_a_missing_one,
    test_admin_routes_refuse_a_business_key_whatever_the_id,
    test_an_idempotency_key_replays_only_within_its_business,
    test_another_business_s_id_is_answered_exactly_as_a_missing_one,
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


def test_the_isolation_matrices_run_here_on_postgresql(owned, theirs) -> None:  # noqa: F811
    # Their fixtures once asked for ``embedded``, which moved every test above onto SQLite.
    assert get_engine().dialect.name == "postgresql"
