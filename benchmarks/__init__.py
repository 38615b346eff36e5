"""Benchmarks run by `./nox.sh -s bench`; numbers go to docs/bench/ and docs/benchmarks.md."""
