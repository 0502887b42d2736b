"""pulse_async."""
