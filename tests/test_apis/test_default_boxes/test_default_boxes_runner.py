"""The analysis runs torch on one thread and gives the count back, also on errors."""

import pytest
import torch

from ssd_plugin.apis.default_boxes import runner
from ssd_plugin.apis.default_boxes.errors import DefaultBoxesError


def test_analysis_runs_torch_on_one_thread_and_restores_it(monkeypatch):
    seen = []

    def analyse(*args):
        seen.append(torch.get_num_threads())
        if len(seen) == 2:
            raise DefaultBoxesError('bad input')
        return {}

    monkeypatch.setattr(runner, '_analyse', analyse)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert runner.run_analysis(None, 'cfg.py', 'out') == {}
        assert torch.get_num_threads() == 2
        with pytest.raises(DefaultBoxesError):
            runner.run_analysis(None, 'cfg.py', 'out')
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
    assert seen == [1, 1]
