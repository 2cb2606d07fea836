"""Benchmarks: Baton against bare Temporal on the same embedded server, in the same run."""
