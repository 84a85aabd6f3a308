"""Helpers shared by the benchmark sub-commands: timing and table output."""

import platform
import time
from typing import Callable, Dict, List, Sequence, Tuple

import torch


def machine_info() -> Dict[str, str]:
    """Describe where a benchmark ran (recorded next to every result)."""
    info = {
        'python': platform.python_version(),
        'torch': torch.__version__,
        'cpu': platform.processor() or platform.machine(),
        'threads': str(torch.get_num_threads()),
    }
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info


def time_fn(
    fn: Callable[[], object], warmup: int = 2, repeat: int = 5, cuda: bool = False
) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def time_pair(
    fn_a: Callable[[], object],
    fn_b: Callable[[], object],
    warmup: int = 2,
    repeat: int = 5,
    cuda: bool = False,
) -> Tuple[float, float]:
    """Median wall times of ``fn_a`` and ``fn_b``, measured alternately.

    Alternating runs expose both sides to the same machine load, so their
    ratio stays fair on a busy or throttled machine.
    """
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for _ in range(repeat):
        times_a.append(time_fn(fn_a, warmup=0, repeat=1, cuda=cuda))
        times_b.append(time_fn(fn_b, warmup=0, repeat=1, cuda=cuda))
    return sorted(times_a)[repeat // 2], sorted(times_b)[repeat // 2]


def markdown_table(rows: List[Dict[str, object]], columns: Sequence[str]) -> str:
    """Render ``rows`` (dicts) as a markdown table with the given columns."""

    def fmt(value: object) -> str:
        return f'{value:.3g}' if isinstance(value, float) else str(value)

    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(fmt(row.get(c, '')) for c in columns) + ' |' for row in rows]
    return '\n'.join(lines)
