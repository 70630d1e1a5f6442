"""Performance benchmarks: `python -m benchmarks.<name>`."""
