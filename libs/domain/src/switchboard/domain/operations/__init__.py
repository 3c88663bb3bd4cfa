"""Operations: how a business's calls and jobs are doing, and which workers are alive.

``overview`` is what the dashboard's overview shows a business; ``heartbeats`` reads a worker
process's last heartbeat; ``scheduled`` prunes the job ledger (a daily job per business).
"""

from switchboard.domain.operations.heartbeats import heartbeat_of
from switchboard.domain.operations.overview import Overview, overview

__all__ = ["Overview", "heartbeat_of", "overview"]
