"""Operations: how a business's calls and jobs are doing, and which workers are alive.

``overview`` is what the dashboard's overview shows a business; ``heartbeats`` records each
worker process's heartbeat.
"""

from switchboard.domain.operations.heartbeats import heartbeat_of, record_heartbeat
from switchboard.domain.operations.overview import Overview, overview

__all__ = ["Overview", "heartbeat_of", "overview", "record_heartbeat"]
