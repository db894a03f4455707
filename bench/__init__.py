"""Benchmarks: `python -m bench` runs all of them (`python -m bench NAME` runs one).

Each module defines ``main(quick: bool = False) -> str`` returning a markdown section; figures are
recorded in docs/benchmarks.md. Peers run in the same process and run, so ratios are meaningful.
"""
