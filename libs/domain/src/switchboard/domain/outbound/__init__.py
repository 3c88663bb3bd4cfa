"""Outbound call runs (campaigns): creating, starting, cancelling, driving and progress."""
