"""Support code that is not shipped: shared by tests/, benchmarks/ and the demo."""
