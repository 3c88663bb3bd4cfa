"""Analysis: what a conversation tells us about its lead.

``conversations`` analyses a call or a WhatsApp chat and writes what the AI extracts onto the
lead, through its ``AnalysisStore`` port (the ORM adapter is here; the worker holds the
PostgreSQL one, one function call per unit of work).
"""

from switchboard.domain.analysis.conversations import analyze_conversation

__all__ = ["analyze_conversation"]
