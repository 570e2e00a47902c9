"""Run the benchmark suite: python -m bench [--full] (see bench/suite.py)."""

from bench.suite import main

main()
