"""exit_with_launcher: a worker stops when its launcher is killed (no orphans)."""

import os
import signal
import subprocess
import sys
import time

import pytest

WORKER = (
    'import time\n'
    'from ssd_plugin.apis.device import exit_with_launcher\n'
    'exit_with_launcher(poll_s=0.1)\n'
    "print('ready', flush=True)\n"
    'time.sleep(60)\n'
)
LAUNCHER = (
    'import subprocess, sys, time\n'
    f'worker = subprocess.Popen([sys.executable, "-c", {WORKER!r}])\n'
    'print(worker.pid, flush=True)\n'
    'time.sleep(60)\n'
)


def _running(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.slow  # ~10 s: the worker imports ssd_plugin
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_worker_exits_when_its_launcher_is_killed():
    launcher = subprocess.Popen([sys.executable, '-c', LAUNCHER], stdout=subprocess.PIPE, text=True)
    worker = int(launcher.stdout.readline())
    try:
        assert launcher.stdout.readline().strip() == 'ready'  # the worker watches
        assert _running(worker)
        os.kill(launcher.pid, signal.SIGKILL)  # kill -9 of the launcher
        launcher.wait()
        deadline = time.time() + 10
        while _running(worker) and time.time() < deadline:
            time.sleep(0.1)
        assert not _running(worker), 'the worker kept running as an orphan'
    finally:
        if _running(worker):
            os.kill(worker, signal.SIGKILL)
