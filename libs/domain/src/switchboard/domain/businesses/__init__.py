"""businesses."""
