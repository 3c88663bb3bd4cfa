"""A live call: its session tasks, the process-wide frame clock, registry and reaper."""
