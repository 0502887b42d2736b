"""pulse_sync."""
