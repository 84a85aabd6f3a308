"""Sub-commands of tools/benchmark.py, one module each."""
