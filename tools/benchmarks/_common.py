"""What every benchmark sub-command shares: where it ran, the timing loop, fresh
processes, the common flags and the markdown table."""

import multiprocessing as mp
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from statistics import median_high as median  # every timing here: the upper middle value
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


def time_fns(
    *fns: Callable[[], object], warmup: int = 2, repeat: int = 5, cuda: bool = False
) -> Tuple[List[float], List[object]]:
    """Median wall time in seconds of each of ``fns`` over ``repeat`` calls after
    ``warmup`` calls, and what its last call returned.

    The functions run alternately, so all of them see the same machine load and
    their ratios stay fair on a busy or throttled machine. ``cuda``: synchronise
    before and after each call.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: List[List[float]] = [[] for _ in fns]
    outs: List[object] = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            outs[i] = fn()
            if cuda:
                torch.cuda.synchronize()
            times[i].append(time.perf_counter() - start)
    return [median(t) for t in times], outs


def in_fresh_process(fn: Callable, *args):
    """``fn(*args)`` in a fresh (spawned) Python process: its own memory peak, threads
    and registries. Its exception is raised here; a crash raises ``BrokenProcessPool``."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context('spawn')) as pool:
        return pool.submit(fn, *args).result()


def add_device_args(parser) -> None:
    """``--device`` (CUDA when there is one) and ``--threads``."""
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')


def markdown_table(rows: List[Dict[str, object]], columns: Sequence[str]) -> str:
    """Render ``rows`` (dicts) as a markdown table with the given columns."""

    def fmt(value: object) -> str:
        return f'{value:.3g}' if isinstance(value, float) else str(value)

    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(fmt(row.get(c, '')) for c in columns) + ' |' for row in rows]
    return '\n'.join(lines)


def report(name: str, title: str, rows: List[Dict], columns: Sequence[str], **extra) -> Dict:
    """Print ``title`` and the table of ``rows``; the results of benchmark ``name``."""
    print(f'\n{title}\n')
    print(markdown_table(rows, columns))
    return dict(benchmark=name, machine=machine_info(), **extra, rows=rows)
