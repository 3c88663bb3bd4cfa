"""The gateway's tunables: ``Settings.gateway`` (``GATEWAY__*`` variables), re-exported here."""

from switchboard.common.settings import GatewaySettings

__all__ = ["GatewaySettings"]
