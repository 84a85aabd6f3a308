"""Benchmarks of ssd_plugin against MMDetection's own SSD, side by side.

Each sub-command lives in ``tools/benchmarks/<name>.py`` and exposes
``add_parser(subparsers)`` and ``main(args) -> dict``. Results print as a
markdown table and, with ``--json``, are written to a file.

Examples::

    python tools/benchmark.py loss --device cpu
    python tools/benchmark.py pipeline --num-images 200
"""

import argparse
import importlib
import json
import pkgutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', help='also write the results to this JSON file')
    subparsers = parser.add_subparsers(dest='command', required=True)
    import benchmarks  # beside this script: Python searches a script's own folder first

    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if not info.name.startswith('_'):
            importlib.import_module(f'benchmarks.{info.name}').add_parser(subparsers)
    args = parser.parse_args()
    results = args.func(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f'results written to {args.json}')


if __name__ == '__main__':
    main()
