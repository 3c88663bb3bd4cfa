"""The statuses a lead can have: where it stands with the business.

The one list the API validates against (a 422 names the allowed values), the CSV import
checks, and filters accept. The conversation analysis concludes one of a subset of them
(``common.integrations.text_rules.LeadStatus``: it never decides a deal is won or lost).
"""

from __future__ import annotations

from typing import Literal, get_args

LeadStatus = Literal["new", "contacted", "interested", "qualified", "not_interested", "won", "lost"]
#: Every status, in the order a lead usually moves through them.
LEAD_STATUSES: tuple[LeadStatus, ...] = get_args(LeadStatus)
#: A lead's status until someone or the analysis changes it.
DEFAULT_STATUS: LeadStatus = "new"
