"""What tests and benchmarks share: factories of platform data, servers and fakes they start."""
