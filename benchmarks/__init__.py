"""pulse-sdk benchmarks: ``python -m benchmarks`` (``make bench``); see RESULTS.md."""
