"""Benchmarks (see README.md). A package so that the server can import ``bench.settings``."""
