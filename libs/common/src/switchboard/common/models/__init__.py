"""Every table of Switchboard; importing this package registers them all on ``Base.metadata``."""

from switchboard.common.models.business import (
    AgentSettings,
    ApiKey,
    Business,
    DashboardSession,
    PrebuiltPrompt,
)
from switchboard.common.models.calls import CallLog, CallSession, Recording
from switchboard.common.models.erasures import ErasedCall, ErasedRow, Erasure
from switchboard.common.models.events import ParkedEvent
from switchboard.common.models.idempotency import IdempotencyKey
from switchboard.common.models.jobs import (
    Job,
    JobLimitDefault,
    JobSlot,
    OutboxMessage,
    WorkerHeartbeat,
)
from switchboard.common.models.leads import Lead
from switchboard.common.models.notifications import PushSubscription, Reminder
from switchboard.common.models.outbound import OutboundItem, OutboundRun
from switchboard.common.models.sandbox import SandboxMessage
from switchboard.common.models.scheduler import ScheduleTick
from switchboard.common.models.webhooks import WebhookDelivery, WebhookEndpoint
from switchboard.common.models.whatsapp import (
    WhatsAppConversation,
    WhatsAppMessage,
    WhatsAppSession,
)

__all__ = [
    "AgentSettings",
    "ApiKey",
    "Business",
    "CallLog",
    "CallSession",
    "DashboardSession",
    "ErasedCall",
    "ErasedRow",
    "Erasure",
    "IdempotencyKey",
    "Job",
    "JobLimitDefault",
    "JobSlot",
    "Lead",
    "OutboundItem",
    "OutboundRun",
    "OutboxMessage",
    "ParkedEvent",
    "PrebuiltPrompt",
    "PushSubscription",
    "Recording",
    "Reminder",
    "SandboxMessage",
    "ScheduleTick",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WhatsAppConversation",
    "WhatsAppMessage",
    "WhatsAppSession",
    "WorkerHeartbeat",
]
