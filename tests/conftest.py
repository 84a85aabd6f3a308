"""Test-wide setup: every registry filled, default scope ``ssd_plugin``."""

import pytest
import torch


@pytest.fixture(autouse=True, scope='session')
def _register_modules():
    from ssd_plugin.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.set_num_threads(2)
