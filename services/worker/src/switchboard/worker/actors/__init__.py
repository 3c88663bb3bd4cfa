"""Every actor of the seed's MOVE_TO_WORKER table, one module per domain."""
