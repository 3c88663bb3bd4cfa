"""WhatsApp: inbound messages, the agent's replies, sending through Twilio, idle-session summaries.

``inbound`` stores an inbound message and enqueues its processing in one transaction, through
the ``inbound_store`` port; ``replies`` generates and stores the agent's reply from
``reply_context``, through its ``ReplyStore`` port; ``concurrency`` bounds a business's
simultaneous reply jobs; ``sending`` sends a stored message through Twilio, claiming and
recording each attempt through its ``SendLedger`` port. Each port's portable (ORM) adapter is
here; the services hold their PostgreSQL adapters and pick one at startup.
``conversations`` is what the API shows and sends; ``sessions`` summarises and closes idle
sessions, one job each; ``scheduled`` declares the domain's periodic jobs.
"""

from switchboard.domain.whatsapp.concurrency import BusinessAtLimit
from switchboard.domain.whatsapp.conversations import (
    get_conversation,
    list_conversations,
    list_messages,
    open_conversation,
    send_message,
)
from switchboard.domain.whatsapp.inbound import InboundMessage
from switchboard.domain.whatsapp.inbound_store import InboundStore, ThreadedInboundStore
from switchboard.domain.whatsapp.replies import reply_to_inbound
from switchboard.domain.whatsapp.sending import send_outbound
from switchboard.domain.whatsapp.sessions import summarize_session

__all__ = [
    "BusinessAtLimit",
    "InboundMessage",
    "InboundStore",
    "ThreadedInboundStore",
    "get_conversation",
    "list_conversations",
    "list_messages",
    "open_conversation",
    "reply_to_inbound",
    "send_message",
    "send_outbound",
    "summarize_session",
]
