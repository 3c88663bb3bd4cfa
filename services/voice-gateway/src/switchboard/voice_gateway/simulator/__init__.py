"""A Twilio simulator: drives calls against a running gateway exactly as Twilio would."""

from switchboard.voice_gateway.simulator.call import CallOutcome, OutboundCall, simulate_call
from switchboard.voice_gateway.simulator.driver import MediaStreamDriver

__all__ = ["CallOutcome", "MediaStreamDriver", "OutboundCall", "simulate_call"]
