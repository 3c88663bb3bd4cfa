"""Leads: the people a business talks to, one per phone number.

``store`` reads and writes a business's leads; ``capture`` records a lead from any channel;
``csv_import`` parses, imports and exports leads as CSV, naming each problem's line and column.
"""

from switchboard.domain.leads.capture import capture_contact, capture_lead
from switchboard.domain.leads.csv_import import (
    ParsedLeads,
    import_leads_csv,
    parse_leads_csv,
    to_csv,
)
from switchboard.domain.leads.store import (
    LeadFilter,
    create_lead,
    delete_lead,
    get_lead,
    list_leads,
    update_lead,
)

__all__ = [
    "LeadFilter",
    "ParsedLeads",
    "capture_contact",
    "capture_lead",
    "create_lead",
    "delete_lead",
    "get_lead",
    "import_leads_csv",
    "list_leads",
    "parse_leads_csv",
    "to_csv",
    "update_lead",
]
