"""What every benchmark sub-command shares: where it ran, the timing loop, fresh
processes and the markdown table."""

import multiprocessing as mp
import platform
import time
from concurrent.futures import ProcessPoolExecutor
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


def median(values: Sequence[float]) -> float:
    """The middle value (the upper one of an even count), as every timing here reports."""
    return sorted(values)[len(values) // 2]


def time_fn(
    fn: Callable[[], object], warmup: int = 2, repeat: int = 5, cuda: bool = False
) -> Tuple[float, object]:
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls, and what the
    last call returned. ``cuda``: synchronise before and after each call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return median(times), out


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
        times_a.append(time_fn(fn_a, warmup=0, repeat=1, cuda=cuda)[0])
        times_b.append(time_fn(fn_b, warmup=0, repeat=1, cuda=cuda)[0])
    return median(times_a), median(times_b)


def in_fresh_process(fn: Callable, *args):
    """``fn(*args)`` in a fresh (spawned) Python process: its own memory peak, threads
    and registries. Its exception is raised here; a crash raises ``BrokenProcessPool``."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context('spawn')) as pool:
        return pool.submit(fn, *args).result()


def markdown_table(rows: List[Dict[str, object]], columns: Sequence[str]) -> str:
    """Render ``rows`` (dicts) as a markdown table with the given columns."""

    def fmt(value: object) -> str:
        return f'{value:.3g}' if isinstance(value, float) else str(value)

    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(fmt(row.get(c, '')) for c in columns) + ' |' for row in rows]
    return '\n'.join(lines)
